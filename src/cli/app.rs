//! `idc-studio app` (and `idc-studio` alone): opens the desktop window.

use std::process::ExitCode;

use super::AppArgs;
use crate::app::LaunchOptions;

/// `None`: started without arguments, so the last dataset and run are reopened.
pub fn run(args: Option<AppArgs>) -> anyhow::Result<ExitCode> {
    let options = match args {
        None => LaunchOptions {
            restore_last: true,
            ..LaunchOptions::default()
        },
        Some(args) => {
            if let Some(folder) = &args.screenshots {
                std::fs::create_dir_all(folder)
                    .map_err(|err| anyhow::anyhow!("{}: {err}", folder.display()))?;
            }
            LaunchOptions {
                data: args.data,
                demo: args.demo,
                run: args.run,
                runs_folder: args.runs,
                screenshot_tour: args.screenshots,
                ..LaunchOptions::default()
            }
        }
    };
    crate::app::run(options)?;
    Ok(ExitCode::SUCCESS)
}
