//! `holdfast routes ca`

use std::process::ExitCode;

use crate::resources::route::ca::LocalCa;
use crate::runtime::store::default_state_dir;

/// Arguments of `holdfast routes`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: RoutesCommand,
}

/// `holdfast routes` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RoutesCommand {
    /// Print the root certificate of holdfast's local CA (PEM), which signs the
    /// certificates of `tls: internal` routes. Trust it where clients should accept
    /// them: `holdfast routes ca > holdfast-root.pem`. Made on first use.
    Ca {
        /// The controller's state directory.
        #[arg(long, env = "HOLDFAST_STATE_DIR", default_value_os_t = default_state_dir())]
        state_dir: std::path::PathBuf,
    },
}

/// Runs `holdfast routes ...`.
pub fn run(args: &Args) -> ExitCode {
    match &args.command {
        RoutesCommand::Ca { state_dir } => match LocalCa::new(state_dir).root_pem() {
            Ok(pem) => {
                print!("{pem}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}
