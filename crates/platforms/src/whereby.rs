//! PLACEHOLDER — being replaced by the full provider module.
use crate::registry::{Configured, Provider, ProviderSetup};
use reflector_core::{ConfigError, Env};

pub const PROVIDER: Provider = Provider { name: "whereby", setup };

fn setup(setup: &ProviderSetup<'_>) -> Result<Configured, ConfigError> {
    let _: &Env = setup.env;
    Ok(Configured::Missing { setting: "WHEREBY_API_KEY" })
}
