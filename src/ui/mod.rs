//! Progress display and JSON events.
