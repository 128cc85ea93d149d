//! Which formulation five of CancerNet's layers, its loss and its optimiser take on a GPU, named
//! by environment variable, read here and nowhere else: the model and the training step never see
//! a switch. Each formulation is the same computation (tested); what differs is speed, and on a
//! GPU only whole training steps on the card say which is faster. Each defaults to the fastest
//! measured on a data-centre GPU, or to ours where the two fell within the card's run-to-run
//! spread (docs/gpu-check.md). A variable switches one part to the other, to time whole steps one
//! against the other (`idc-studio bench` prints the choices it ran with; `scripts/gpu-check.sh`
//! runs each), or as a way out should a driver mistranslate one. The CPU always runs our own
//! kernels and ignores them.

use std::sync::OnceLock;

/// Set to `burn` for burn's grouped convolution instead of our kernels (depthwise/gpu.rs).
pub const DEPTHWISE_VARIABLE: &str = "IDC_STUDIO_GPU_DEPTHWISE";
/// Set to `channels-last` for the 1x1 convolution as one 2-D matrix product over every pixel
/// instead of one batched product per image.
pub const POINTWISE_VARIABLE: &str = "IDC_STUDIO_GPU_POINTWISE";
/// Set to `burn` for ReLU then burn's `BatchNorm`, or `sums` for ReLU then
/// `relu_batch_norm::by_sums` (burn's tensor operations, statistics by sums), instead of our fused
/// ReLU + batch-norm kernels.
pub const BATCH_NORM_VARIABLE: &str = "IDC_STUDIO_GPU_BATCH_NORM";

/// Set to `burn` for burn's 2x2 max pooling instead of our kernels (max_pool/gpu.rs).
pub const MAX_POOL_VARIABLE: &str = "IDC_STUDIO_GPU_MAX_POOL";

/// Set to `burn` for burn's `Dropout` instead of dropout by hash (dropout/gpu.rs).
pub const DROPOUT_VARIABLE: &str = "IDC_STUDIO_GPU_DROPOUT";

/// Set to `burn` for burn's `CrossEntropyLoss` and an argmax count of the hits instead of ours
/// (loss/gpu.rs).
pub const LOSS_VARIABLE: &str = "IDC_STUDIO_GPU_LOSS";

/// Set to `burn` for burn's `AdaGrad`, or `single` for ours a parameter per operation, instead of
/// ours six parameters per operation (adagrad/groups.rs).
pub const ADAGRAD_VARIABLE: &str = "IDC_STUDIO_GPU_ADAGRAD";

/// How AdaGrad steps the parameters on a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuAdaGrad {
    /// Ours, six parameters to an operation (a launch).
    Grouped,
    /// Ours, one parameter to an operation.
    Single,
    /// burn's `AdaGrad`: seven operations a parameter.
    Burn,
}

/// How ReLU + batch norm runs on a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuBatchNorm {
    /// Our kernels (relu_batch_norm/gpu.rs).
    Kernels,
    /// burn's operations, the statistics taken by sums (`relu_batch_norm::by_sums`; the
    /// dense layer's, which is not four-dimensional, takes burn's `BatchNorm`).
    Sums,
    /// burn's `BatchNorm`.
    Burn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuVariants {
    pub burns_depthwise: bool,
    pub channels_last_pointwise: bool,
    pub batch_norm: GpuBatchNorm,
    pub burns_max_pool: bool,
    pub burns_dropout: bool,
    pub burns_loss: bool,
    pub adagrad: GpuAdaGrad,
}

/// Each switch and the values it accepts; any other value leaves the default.
const ACCEPTED: [(&str, &[&str]); 7] = [
    (DEPTHWISE_VARIABLE, &["burn"]),
    (POINTWISE_VARIABLE, &["channels-last"]),
    (BATCH_NORM_VARIABLE, &["burn", "sums"]),
    (MAX_POOL_VARIABLE, &["burn"]),
    (DROPOUT_VARIABLE, &["burn"]),
    (LOSS_VARIABLE, &["burn"]),
    (ADAGRAD_VARIABLE, &["burn", "single"]),
];

/// A warning for each switch set to a value it does not accept (`value_of` reads a variable):
/// a misspelt value would otherwise time the default while the person believes it the other.
pub fn misspelt_switches(value_of: impl Fn(&str) -> Option<String>) -> Vec<String> {
    ACCEPTED
        .iter()
        .filter_map(|(variable, accepted)| {
            let value = value_of(variable)?;
            (!value.is_empty() && !accepted.contains(&value.as_str())).then(|| {
                format!(
                    "{variable}={value} is not one of its values ({}); the default runs",
                    accepted.join(", ")
                )
            })
        })
        .collect()
}

/// The choices of this process, read from the environment once; a misspelt value is warned of
/// on standard error and in the log.
pub fn gpu_variants() -> GpuVariants {
    static CHOICES: OnceLock<GpuVariants> = OnceLock::new();
    *CHOICES.get_or_init(|| {
        for warning in misspelt_switches(|variable| std::env::var(variable).ok()) {
            tracing::warn!("{warning}");
            eprintln!("warning: {warning}");
        }
        let says = |variable: &str, value: &str| std::env::var(variable).is_ok_and(|set| set == value);
        GpuVariants {
            burns_depthwise: says(DEPTHWISE_VARIABLE, "burn"),
            channels_last_pointwise: says(POINTWISE_VARIABLE, "channels-last"),
            batch_norm: if says(BATCH_NORM_VARIABLE, "burn") {
                GpuBatchNorm::Burn
            } else if says(BATCH_NORM_VARIABLE, "sums") {
                GpuBatchNorm::Sums
            } else {
                GpuBatchNorm::Kernels
            },
            burns_max_pool: says(MAX_POOL_VARIABLE, "burn"),
            burns_dropout: says(DROPOUT_VARIABLE, "burn"),
            burns_loss: says(LOSS_VARIABLE, "burn"),
            adagrad: if says(ADAGRAD_VARIABLE, "burn") {
                GpuAdaGrad::Burn
            } else if says(ADAGRAD_VARIABLE, "single") {
                GpuAdaGrad::Single
            } else {
                GpuAdaGrad::Grouped
            },
        }
    })
}

impl GpuVariants {
    /// One line per layer that is not the default, for `bench` to print.
    pub fn departures(&self) -> Vec<String> {
        [
            (
                self.burns_depthwise,
                DEPTHWISE_VARIABLE,
                "burn",
                "burn's grouped convolution",
            ),
            (
                self.channels_last_pointwise,
                POINTWISE_VARIABLE,
                "channels-last",
                "one channels-last matrix product",
            ),
            (
                self.batch_norm == GpuBatchNorm::Burn,
                BATCH_NORM_VARIABLE,
                "burn",
                "ReLU then burn's BatchNorm",
            ),
            (
                self.batch_norm == GpuBatchNorm::Sums,
                BATCH_NORM_VARIABLE,
                "sums",
                "ReLU then batch norm from sums",
            ),
            (
                self.burns_max_pool,
                MAX_POOL_VARIABLE,
                "burn",
                "burn's max pooling",
            ),
            (self.burns_dropout, DROPOUT_VARIABLE, "burn", "burn's dropout"),
            (self.burns_loss, LOSS_VARIABLE, "burn", "burn's loss"),
            (
                self.adagrad == GpuAdaGrad::Burn,
                ADAGRAD_VARIABLE,
                "burn",
                "burn's AdaGrad",
            ),
            (
                self.adagrad == GpuAdaGrad::Single,
                ADAGRAD_VARIABLE,
                "single",
                "AdaGrad a parameter per operation",
            ),
        ]
        .into_iter()
        .filter(|(chosen, ..)| *chosen)
        .map(|(_, variable, value, what)| format!("{what} ({variable}={value})"))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_switch_is_named_with_the_values_it_accepts() {
        let set = |variable: &str| match variable {
            ADAGRAD_VARIABLE => Some("singel".to_string()),
            DEPTHWISE_VARIABLE => Some("burn".to_string()),
            LOSS_VARIABLE => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            misspelt_switches(set),
            ["IDC_STUDIO_GPU_ADAGRAD=singel is not one of its values (burn, single); the default runs"]
        );
    }

    #[test]
    fn names_each_departure_with_its_variable() {
        let defaults = GpuVariants {
            burns_depthwise: false,
            channels_last_pointwise: false,
            batch_norm: GpuBatchNorm::Kernels,
            burns_max_pool: false,
            burns_dropout: false,
            burns_loss: false,
            adagrad: GpuAdaGrad::Grouped,
        };
        assert!(defaults.departures().is_empty());
        let lines = GpuVariants {
            channels_last_pointwise: true,
            batch_norm: GpuBatchNorm::Sums,
            ..defaults
        }
        .departures();
        assert_eq!(
            lines,
            [
                "one channels-last matrix product (IDC_STUDIO_GPU_POINTWISE=channels-last)",
                "ReLU then batch norm from sums (IDC_STUDIO_GPU_BATCH_NORM=sums)"
            ]
        );
    }
}
