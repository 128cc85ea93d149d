//! How many kernels a GPU training step launches, counted on Mesa's software Vulkan adapter
//! (lavapipe). On a fast card the host's work per launch sets the pace of a step, so a launch
//! that comes back is a slowdown there. Alone in its own test binary: cubecl's launch observer
//! sees every launch of the process, and other tests' would be counted with this one's.

mod common;

use common::datasets::small_demo;
use idc_studio::cli::bench::kernel_census::KernelCensus;
use idc_studio::model::cancernet::BatchNormSettings;
use idc_studio::model::{DeviceChoice, select_device};
use idc_studio::training::batches::HostBatch;
use idc_studio::training::step::Learner;

#[test]
fn a_gpu_training_step_launches_one_adagrad_kernel_per_six_parameters_two_batch_norm_kernels_a_pass_and_no_flips()
 {
    let gpu = select_device(DeviceChoice::SoftwareGpu)
        .expect("the GPU path test needs a Vulkan adapter: apt-get install mesa-vulkan-drivers libvulkan1");
    let store = &small_demo().store;
    let batch = HostBatch::build(store, &[0, 1], 2, None);
    let mut learner = Learner::new(&gpu.device, 1e-2, 2.5e-4, [1.0, 2.5], BatchNormSettings::MODEL);
    // The first steps tune kernels and the optimiser has no state yet: count a later one.
    for _ in 0..2 {
        (learner, _) = learner.step(batch.clone()).unwrap();
    }
    // burn lists the seven batch-norm layers' running mean and variance among the parameters;
    // no optimiser updates those.
    let parameters = burn::module::list_param_ids(&learner.model).len() - 7 * 2;
    let (census, observation) = KernelCensus::start(false);
    let (_, outcome) = learner.step(batch.clone()).unwrap();
    drop(observation);
    assert!(outcome.loss.is_finite());

    let report = census.report();
    let launches = |name: &str| {
        report
            .rows
            .iter()
            .filter(|row| row.name == name)
            .map(|row| row.launches)
            .sum::<usize>()
    };
    let table: Vec<String> = report
        .rows
        .iter()
        .map(|row| format!("{} x{}", row.name, row.launches))
        .collect();
    // AdaGrad: six parameters to a kernel, the rest one each.
    assert_eq!(
        (launches("StepGroupKernel"), launches("StepKernel")),
        (parameters / 6, parameters % 6),
        "{table:?}"
    );
    // Seven batch-norm layers, two kernels a pass each: the partial sums of groups of images,
    // then one that merges them in every workgroup and normalises (forward) or writes the input
    // gradient (backward); the running statistics are moved by the first, none of burn's.
    assert_eq!(launches("MomentPartialsKernel"), 7, "{table:?}");
    assert_eq!(launches("MergeAndNormaliseKernel"), 7, "{table:?}");
    assert_eq!(launches("GradientPartialsKernel"), 7, "{table:?}");
    assert_eq!(launches("MergeAndInputGradientKernel"), 7, "{table:?}");
    // The input gradients' rotated filters are read in place, not flipped by a kernel of burn's.
    assert_eq!(launches("FlipKernel"), 0, "{table:?}");
    // The running statistics are set, not kept per thread and averaged at the next read, which
    // was a fused division by one per layer (seven launches).
    assert!(launches("ElemwiseFuse") < 4, "{table:?}");
    assert!(
        report.launches() < 121,
        "{} launches: {table:?}",
        report.launches()
    );
}
