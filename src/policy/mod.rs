//! Safety enforced by the harness: path confinement, the command policy, the sandbox and the
//! secret scan.
