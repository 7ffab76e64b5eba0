//! cost: see the module's own docs once implemented.
