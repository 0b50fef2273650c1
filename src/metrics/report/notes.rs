//! "Notes": what "n/a" means when it was printed, and the caller's notes.

use maud::{Markup, html};

use super::{Page, section};

/// Rendered last: by then every section has set `na_used` if it printed an "n/a".
pub(super) fn notes(page: &Page) -> Markup {
    let input = page.input;
    let na = page.na_used.get() || page.input_has_nan();
    if input.notes.is_empty() && !na {
        return html! {};
    }
    let body = html! {
        ul class="notes" {
            @if na {
                li {
                    strong { "n/a" }
                    " marks a statistic that is not defined for a code, usually because one or both coders never (or always) used it, so there is nothing to correct for chance or to divide by. It is not a zero: look at the counts."
                }
            }
            @for note in &input.notes {
                li { (note) }
            }
        }
    };
    section("notes", "Notes", body)
}
