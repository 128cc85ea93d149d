//! Stain, as a pathologist meets it: slides from other labs look other, Macenko normalisation
//! maps them back onto one reference, and the demo dataset's patients are stained as variously
//! as asked, the far labs standing out on the stain map.

mod common;

use idc_studio::dataset::demo::lab_stain::LabStain;
use idc_studio::dataset::demo::{DEMO_STAINS_FILE, DemoConfig, StainVariation, generate_demo_dataset};
use idc_studio::dataset::scan_dataset;
use idc_studio::dataset::stain::macenko::estimate_stain;
use idc_studio::dataset::stain::optical_density::{densities, value_of};
use idc_studio::dataset::stain::{
    MacenkoStain, OdTransform, PatientStains, REFERENCE_STAIN, Tone, restain_pixels,
};
use rand::{Rng, SeedableRng};

/// Tissue as `stain` would dye it, as packed RGB: nuclei (mostly haematoxylin), stroma (mostly
/// eosin) and pixels between, each concentration up to the stain's maximum.
fn tissue(stain: &MacenkoStain, pixels: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let [max_h, max_e] = stain.max_concentrations;
    (0..pixels)
        .flat_map(|_| {
            let (h, e) = match rng.random_range(0..10) {
                0..=2 => (rng.random_range(0.4..1.0f32), rng.random_range(0.0..0.1f32)),
                3..=7 => (rng.random_range(0.0..0.05f32), rng.random_range(0.3..1.0f32)),
                _ => (rng.random_range(0.1..0.6f32), rng.random_range(0.1..0.6f32)),
            };
            let od: [f32; 3] =
                std::array::from_fn(|k| h * max_h * stain.haematoxylin[k] + e * max_e * stain.eosin[k]);
            od.map(|density| value_of(density).round().clamp(0.0, 255.0) as u8)
        })
        .collect()
}

fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .sum::<f64>()
        / a.len() as f64
}

/// Unit vector of `v`.
fn unit(v: [f32; 3]) -> [f32; 3] {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.map(|x| x / norm)
}

#[test]
fn a_slide_from_another_lab_is_mapped_back_close_to_the_reference() {
    // The same tissue, dyed by the reference and by a lab whose haematoxylin is bluer and whose
    // eosin is paler and pinker, with more of one and less of the other.
    let other_lab = MacenkoStain {
        haematoxylin: unit([0.46, 0.78, 0.42]),
        eosin: unit([0.12, 0.86, 0.50]),
        max_concentrations: [2.5, 0.7],
    };
    let (reference, restained) = (tissue(&REFERENCE_STAIN, 20_000, 3), tissue(&other_lab, 20_000, 3));
    let before = mean_difference(&reference, &restained);

    let (normalised, same_normalised) = (normalised(&restained), normalised(&reference));
    let after = mean_difference(&reference, &normalised);
    let between = mean_difference(&same_normalised, &normalised);
    eprintln!(
        "mean |RGB difference|: {before:.1} between the labs; {after:.1} from the reference once normalised; \
         {between:.1} between both labs normalised"
    );
    assert!(before > 12.0, "the other lab looks other: {before:.1}");
    assert!(
        after < 3.0,
        "normalised back within a few levels of the reference: {after:.1}"
    );
    assert!(between < 2.0, "both labs' tissue normalised alike: {between:.1}");
}

/// `pixels` normalised onto the reference through their own Macenko estimate.
fn normalised(pixels: &[u8]) -> Vec<u8> {
    let samples: Vec<[f32; 3]> = pixels
        .chunks_exact(3)
        .map(|rgb| densities([rgb[0], rgb[1], rgb[2]]))
        .collect();
    let estimate = estimate_stain(&samples).expect("two stains in the tissue");
    let mut normalised = pixels.to_vec();
    restain_pixels(
        &mut normalised,
        &estimate.normalising_transform(&REFERENCE_STAIN),
        Tone::UNCHANGED,
    );
    normalised
}

#[test]
fn strong_variation_sets_the_far_labs_apart_on_the_stain_map_and_none_keeps_all_alike() {
    let folder = tempfile::tempdir().unwrap();
    for variation in [StainVariation::None, StainVariation::Strong] {
        let root = folder.path().join(variation.name());
        let config = DemoConfig {
            patients: 14,
            patches_per_patient: 60,
            seed: 21,
            stain_variation: variation,
        };
        generate_demo_dataset(&root, &config).unwrap();
        let marker = std::fs::read_to_string(root.join("SYNTHETIC_DEMO_DATA.txt")).unwrap();
        assert!(
            marker.contains(&format!("stain variation {}", variation.name())),
            "{marker}"
        );
        let truth: Vec<LabStain> = csv::Reader::from_path(root.join(DEMO_STAINS_FILE))
            .unwrap()
            .deserialize()
            .map(Result::unwrap)
            .collect();
        assert_eq!(truth.len(), 14);
        let (store, _) = scan_dataset(&root, &|_| {}).unwrap();
        let stains = PatientStains::estimate(&store, None, &|_, _| {}, &Default::default()).unwrap();
        assert!(
            stains.patients.iter().all(|stain| stain.macenko.is_some()),
            "every patient estimated"
        );
        let hues: Vec<f32> = stains
            .patients
            .iter()
            .map(|stain| stain.hues().unwrap().haematoxylin)
            .collect();
        let spread =
            hues.iter().cloned().fold(f32::MIN, f32::max) - hues.iter().cloned().fold(f32::MAX, f32::min);
        let unusual = stains.unusual();
        let lab_of = |patient: &str| truth.iter().find(|stain| stain.patient == patient).unwrap().lab;
        let far: Vec<bool> = stains
            .patients
            .iter()
            .map(|stain| lab_of(&stain.patient) != 0)
            .collect();
        eprintln!(
            "{variation:?}: haematoxylin hues span {spread:.1} degrees; unusual {unusual:?}; far lab {far:?}"
        );
        match variation {
            StainVariation::None => {
                assert!(
                    truth
                        .iter()
                        .all(|stain| stain.lab == 0 && stain.haematoxylin_amount == 1.0)
                );
                assert!(unusual.iter().all(|&flag| !flag), "alike stains: none unusual");
            }
            _ => {
                assert!(far.iter().any(|&far| far), "some patients come from the far labs");
                // Every patient the map calls unusual came from a far lab, and most far ones
                // are called so.
                for (index, &flag) in unusual.iter().enumerate() {
                    assert!(
                        !flag || far[index],
                        "{} is unusual but from the common lab",
                        stains.patients[index].patient
                    );
                }
                let found = (0..far.len()).filter(|&i| far[i] && unusual[i]).count();
                assert!(
                    2 * found >= far.iter().filter(|&&far| far).count(),
                    "found {found} of the far patients"
                );
            }
        }
    }
    // The identity is what `none` re-stains with.
    assert_eq!(
        LabStain::draw("8001", StainVariation::None, 1).transform().offset,
        OdTransform::IDENTITY.offset
    );
}
