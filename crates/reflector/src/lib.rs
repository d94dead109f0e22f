//! The composition root: [`Config`] (the one typed configuration, read once) and
//! [`Application`], which builds the whole service from it — store, providers, the application
//! layer, its jobs and the HTTP router. The `reflector` binary and the test harness both build
//! the service through [`Application::build`], so nothing is wired twice.

pub mod config;
mod startup;

pub use config::Config;
pub use startup::{Application, Role, StartError, migrate, shutdown_signal};
