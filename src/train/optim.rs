//! AdamW (Loshchilov and Hutter 2019, <https://arxiv.org/abs/1711.05101>) with a learning-rate
//! schedule of linear warm-up then linear decay, and clipping of the global gradient norm.
//! Written here rather than taken from candle-nn so that its moments can be checkpointed and
//! restored: a resumed run must continue exactly where the interrupted one stopped.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

/// AdamW over named variables; moments are kept per variable.
pub struct AdamW {
    vars: Vec<(String, Var)>,
    /// Whether each variable gets weight decay.
    decays: Vec<bool>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    steps: usize,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl AdamW {
    /// An optimiser for `vars`, with PyTorch's default betas and epsilon; `decays(name)` says
    /// which variables get weight decay.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn new(
        mut vars: Vec<(String, Var)>,
        weight_decay: f64,
        decays: impl Fn(&str) -> bool,
    ) -> Result<Self> {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let decays = vars.iter().map(|(name, _)| decays(name)).collect();
        let zeros = |vars: &[(String, Var)]| {
            vars.iter()
                .map(|(_, v)| v.as_tensor().zeros_like())
                .collect::<Result<Vec<_>>>()
        };
        Ok(AdamW {
            first: zeros(&vars)?,
            second: zeros(&vars)?,
            vars,
            decays,
            steps: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        })
    }

    /// Optimiser steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// One step at learning rate `lr`; gradients are first scaled down so that their global
    /// L2 norm is at most `max_norm` (when given). Returns the norm before clipping.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn step(&mut self, grads: &GradStore, lr: f64, max_norm: Option<f64>) -> Result<f64> {
        let mut squared = 0f64;
        for (_, var) in &self.vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                squared += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
            }
        }
        let norm = squared.sqrt();
        let scale = match max_norm {
            Some(max) if norm > max => max / (norm + 1e-6),
            _ => 1.0,
        };
        self.steps += 1;
        let t = self.steps as i32;
        let correct1 = 1.0 - self.beta1.powi(t);
        let correct2 = 1.0 - self.beta2.powi(t);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let g = (g * scale)?;
            let m = ((&self.first[i] * self.beta1)? + (&g * (1.0 - self.beta1))?)?;
            let v = ((&self.second[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let update = ((&m / correct1)? / ((&v / correct2)?.sqrt()? + self.eps)?)?;
            let decay = if self.decays[i] {
                self.weight_decay
            } else {
                0.0
            };
            let decayed = (var.as_tensor() * (1.0 - lr * decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
            self.first[i] = m;
            self.second[i] = v;
        }
        Ok(norm)
    }

    /// The moments as named tensors, for a checkpoint.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.insert(format!("adam.m.{name}"), self.first[i].clone());
            out.insert(format!("adam.v.{name}"), self.second[i].clone());
        }
        out
    }

    /// Restores moments saved by [`AdamW::state`] after `steps` steps.
    ///
    /// # Errors
    /// When a moment is missing.
    pub fn restore(&mut self, tensors: &HashMap<String, Tensor>, steps: usize) -> Result<()> {
        for (i, (name, _)) in self.vars.iter().enumerate() {
            let get = |key: String| {
                tensors
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {key}")))
            };
            self.first[i] = get(format!("adam.m.{name}"))?;
            self.second[i] = get(format!("adam.v.{name}"))?;
        }
        self.steps = steps;
        Ok(())
    }
}

/// Linear warm-up over `warmup` steps to `peak`, then linear decay to 0 at `total` steps.
pub fn scheduled_lr(peak: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        peak * (step + 1) as f64 / warmup as f64
    } else {
        let remaining = total.saturating_sub(step) as f64;
        peak * remaining / (total.saturating_sub(warmup)).max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        assert!((scheduled_lr(1.0, 0, 10, 100) - 0.1).abs() < 1e-12);
        assert!((scheduled_lr(1.0, 9, 10, 100) - 1.0).abs() < 1e-12);
        assert!((scheduled_lr(1.0, 10, 10, 100) - 1.0).abs() < 1e-12);
        assert!((scheduled_lr(1.0, 55, 10, 100) - 0.5).abs() < 1e-12);
        assert_eq!(scheduled_lr(1.0, 100, 10, 100), 0.0);
        assert!((scheduled_lr(2.0, 0, 0, 4) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn minimises_a_quadratic_and_clips() {
        let x = Var::new(&[3f32, -2.0], &Device::Cpu).unwrap();
        let mut opt = AdamW::new(vec![("x".into(), x.clone())], 0.0, |_| true).unwrap();
        let mut first_norm = 0.0;
        for i in 0..500 {
            let loss = x.as_tensor().sqr().unwrap().sum_all().unwrap();
            let norm = opt
                .step(&loss.backward().unwrap(), 0.05, Some(1.0))
                .unwrap();
            if i == 0 {
                first_norm = norm;
            }
        }
        assert!((first_norm - (36f64 + 16.0).sqrt()).abs() < 1e-4);
        let v = x.as_tensor().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|x| x.abs() < 0.05), "{v:?}");
        assert_eq!(opt.steps(), 500);
        let state = opt.state();
        let mut fresh = AdamW::new(vec![("x".into(), x.clone())], 0.0, |_| true).unwrap();
        fresh.restore(&state, 500).unwrap();
        assert_eq!(fresh.steps(), 500);
    }
}
