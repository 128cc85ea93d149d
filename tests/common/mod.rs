//! Helpers shared by the integration tests: small generated datasets and PNG files.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use idc_studio::dataset::demo::{DemoConfig, generate_demo_dataset};
use idc_studio::dataset::{PatchStore, scan_dataset};

/// A small generated dataset and its scan.
pub struct Demo {
    _folder: tempfile::TempDir,
    pub root: PathBuf,
    pub store: Arc<PatchStore>,
}

/// A small demo dataset, generated once per test binary: 6 patients, about 720 patches.
pub fn small_demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let folder = tempfile::tempdir().unwrap();
        let root = folder.path().join("demo");
        let config = DemoConfig {
            patients: 6,
            patches_per_patient: 120,
            seed: 11,
        };
        generate_demo_dataset(&root, &config).unwrap();
        let (store, _) = scan_dataset(&root, &|_| {}).unwrap();
        Demo {
            _folder: folder,
            root,
            store: Arc::new(store),
        }
    })
}

/// A small demo dataset of its own in `folder` (for tests that write beside it), scanned.
pub fn own_demo(folder: &Path, patients: usize, patches_per_patient: usize) -> PatchStore {
    let config = DemoConfig {
        patients,
        patches_per_patient,
        seed: 5,
    };
    generate_demo_dataset(folder, &config).unwrap();
    scan_dataset(folder, &|_| {}).unwrap().0
}

/// The release binary, as a user runs it.
pub fn idc_studio(args: &[&str]) -> Output {
    idc_studio_command(args).output().expect("the binary runs")
}

/// The command [`idc_studio`] runs, for tests that start it in the background or elsewhere.
pub fn idc_studio_command(args: &[&str]) -> Command {
    // As in a desktop session: without it Mesa's Vulkan driver, probed by `--device auto`,
    // complains on standard error on headless machines.
    static RUNTIME_DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let runtime_dir = RUNTIME_DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let mut command = Command::new(env!("CARGO_BIN_EXE_idc-studio"));
    // Runs, logs and annotations the binary keeps in the user's data folder stay in the test's.
    static DATA_HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    let data_home = DATA_HOME.get_or_init(|| tempfile::tempdir().unwrap());
    command
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime_dir.path())
        .env("XDG_DATA_HOME", data_home.path());
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A failure is one line on standard error, naming the problem, with a non-zero exit.
pub fn assert_one_line_error(output: &Output, needle: &str) {
    assert!(!output.status.success(), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    assert!(lines[0].contains(needle), "{needle:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

pub fn png_bytes(image: image::DynamicImage) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

pub fn rgb_png(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    png_bytes(image::RgbImage::from_pixel(width, height, image::Rgb(colour)).into())
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A stack of four small dense layers with fixed weights (eight parameters: one group of six
/// for AdaGrad's grouped steps and two on their own), for comparing optimisers.
pub mod stack {
    use burn::module::{ModuleVisitor, Param};
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, ModuleOptimizer};
    use burn::prelude::*;
    use idc_studio::training::adagrad::FusedAdaGrad;

    #[derive(Module, Debug)]
    pub struct Stack {
        layers: Vec<Linear>,
    }

    pub fn stack(device: &Device) -> Stack {
        let layers = (0..4)
            .map(|layer| {
                let mut linear = LinearConfig::new(5, 5).init(device);
                let weights: Vec<f32> = (0..25)
                    .map(|i| ((i * 7 + layer * 3) % 11) as f32 / 10.0 - 0.5)
                    .collect();
                linear.weight =
                    Param::from_tensor(Tensor::<2>::from_data(TensorData::new(weights, [5, 5]), device));
                let bias: Vec<f32> = (0..5).map(|i| ((i + layer) % 4) as f32 / 10.0 - 0.15).collect();
                linear.bias = Some(Param::from_tensor(Tensor::<1>::from_data(
                    TensorData::new(bias, [5]),
                    device,
                )));
                linear
            })
            .collect();
        Stack { layers }
    }

    /// Gradients of a loss that differs at every `step`.
    fn gradients(stack: &Stack, step: usize, device: &Device) -> GradientsParams {
        let input: Vec<f32> = (0..15)
            .map(|i| ((i * 13 + step * 5) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let mut x = Tensor::<2>::from_data(TensorData::new(input, [3, 5]), device);
        for layer in &stack.layers {
            x = layer.forward(x);
        }
        GradientsParams::from_grads(x.powi_scalar(2).sum().backward(), stack)
    }

    /// `stack` after `steps`, each taken by `optimizer` directly or, given the AdaGrad it was
    /// made from, in groups.
    pub fn train(
        mut stack: Stack,
        optimizer: &mut ModuleOptimizer,
        in_groups: Option<&FusedAdaGrad>,
        steps: std::ops::Range<usize>,
        device: &Device,
    ) -> Stack {
        for step in steps {
            let grads = gradients(&stack, step, device);
            stack = match in_groups {
                Some(adagrad) => adagrad.step_in_groups(optimizer, 0.05, stack, grads),
                None => optimizer.step(0.05, stack, grads),
            };
        }
        stack
    }

    /// Every parameter's values, in the model's order.
    pub fn values(stack: &Stack) -> Vec<f32> {
        struct Collect(Vec<f32>);
        impl ModuleVisitor for Collect {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0
                    .extend(param.val().into_data().try_to_vec::<f32>().unwrap());
            }
        }
        let mut collect = Collect(Vec::new());
        stack.visit(&mut collect);
        collect.0
    }

    /// Three steps of AdaGrad directly and in groups, then two more after a checkpoint of each
    /// is saved and loaded into a new optimiser: `(direct, grouped, start)` values.
    pub fn direct_and_grouped(device: &Device) -> [Vec<f32>; 3] {
        let mut direct = ModuleOptimizer::from(FusedAdaGrad::new(0.1));
        let adagrad = FusedAdaGrad::new(0.1);
        let mut grouped = ModuleOptimizer::from(adagrad.clone());
        let by_direct = train(stack(device), &mut direct, None, 0..3, device);
        let by_groups = train(stack(device), &mut grouped, Some(&adagrad), 0..3, device);
        // The grouped steps' states (step counts, sums) are the optimiser's own: a checkpoint
        // of them resumes, in groups, where the direct steps go on.
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("optimizer.bpk");
        grouped.save(&path).unwrap();
        let resumed_adagrad = FusedAdaGrad::new(0.1);
        let mut resumed = ModuleOptimizer::from(resumed_adagrad.clone())
            .load_record(burn::optim::OptimizerRecord::load(&path).unwrap());
        let by_direct = train(by_direct, &mut direct, None, 3..5, device);
        let by_groups = train(by_groups, &mut resumed, Some(&resumed_adagrad), 3..5, device);
        [values(&by_direct), values(&by_groups), values(&stack(device))]
    }
}

/// A PNG chunk: length, type, data and the CRC over type and data.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let crc = crc32(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    chunk
}

/// The CRC-32 of PNG chunks (ISO 3309), bit by bit: test files are small.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A finished run's folder at `root` for `store`'s dataset, as if trained: its test part is every
/// third patch, with a probability that puts every other IDC patch among the false negatives.
/// Review needs only these files, so tests of reviewing need no training.
pub fn finished_run_with_predictions(store: &PatchStore, root: &Path) {
    use idc_studio::dataset::Label;
    use idc_studio::training::{PredictionRow, RunFolder};
    let run = RunFolder::new(root);
    run.create().unwrap();
    run.write_info(&run_info(store.root())).unwrap();
    let rows: Vec<PredictionRow> = store
        .patches()
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 3 == 0)
        .map(|(index, patch)| PredictionRow {
            path: patch.path.clone(),
            patient: store.patient_name(patch).to_string(),
            x: patch.x,
            y: patch.y,
            label: patch.label.index(),
            prob_idc: match (patch.label, index % 2) {
                (Label::Idc, 0) => 0.1 + (index % 7) as f32 * 0.01,
                (Label::Idc, _) => 0.9,
                (Label::NonIdc, _) => 0.05 + (index % 5) as f32 * 0.01,
            },
        })
        .collect();
    run.write_predictions(&rows).unwrap();
}

/// A run's `config.json` content for a run of the recipe's settings on `dataset`.
pub fn run_info(dataset: &Path) -> idc_studio::training::RunInfo {
    idc_studio::training::RunInfo {
        config: idc_studio::training::TrainConfig::default(),
        dataset: dataset.to_path_buf(),
        synthetic: true,
        class_weights: [1.0, 1.0],
        version: "test".into(),
        batch_norm: idc_studio::model::cancernet::BatchNormSettings::MODEL,
        label_changes: None,
    }
}
