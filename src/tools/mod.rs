//! The model-facing tools (DESIGN.md §3).
