//! The loop: planner, executor, budgets, stop rules, prompts.
