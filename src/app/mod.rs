//! The application layer: what the front ends (CLI, MCP, web) show, as typed values.
//!
//! May call `store`, `text` and `ui` (for the run log's path); never a front end
//! (`commands`, `serve`).

pub mod views;
