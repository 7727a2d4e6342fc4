//! dualstack: move an AWS workload from IPv4-only to dual-stack IPv6 by
//! executing a YAML runbook of checkpointed, reversible steps.
//!
//! The layout follows the data: [`runbook`] parses and validates the file,
//! [`steps`] holds one module per step kind (check / apply / verify /
//! rollback), [`engine`] runs them with a journal and a lock kept by a [`state`] backend (local or S3), [`plan`] renders
//! the dry-run, [`preflight`] finds the known IPv6 traps before any change, [`aws`] hides the SDK behind domain traits and [`ui`] renders
//! the engine's events. [`discover`] writes a first runbook from a live VPC
//! (`init`). [`cli`] ties them into commands.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod discover;
pub mod engine;
pub mod exit;
pub mod health;
pub mod ipv6;
pub mod plan;
pub mod preflight;
pub mod runbook;
pub mod state;
pub mod steps;
pub mod ui;
