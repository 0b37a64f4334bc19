//! `needs-missing`: imports `test:missing/clock@0.1.0` (no host has it) and
//! calls it from its one export, so the import stays in the component.

wit_bindgen::generate!({ path: "wit", world: "needs-missing", generate_all });

struct NeedsMissing;

impl Guest for NeedsMissing {
    fn stamp() -> String {
        format!("now: {}", test::missing::clock::now())
    }
}

export!(NeedsMissing);
