//! Temporary test root until tests/main.rs lands: the registry tests.
mod registry;
mod support;
