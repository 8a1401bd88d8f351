//! Layered configuration (DESIGN.md §5).
