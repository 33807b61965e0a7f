//! Preprocessing: normalisation, layouts, channel conversion and resizing on small samples
//! whose results can be worked out by hand.

use distill_data::{Layout, Preprocess, SampleShape, parse_size};

fn shape(channels: usize, height: usize, width: usize) -> SampleShape {
    SampleShape {
        channels,
        height,
        width,
    }
}

fn raw(p: Preprocess) -> Preprocess {
    Preprocess {
        scale: 1.0,
        mean: vec![0.0],
        std: vec![1.0],
        ..p
    }
}

fn run(p: &Preprocess, input: SampleShape, src: &[u8]) -> Vec<f32> {
    p.validate_shape(input).unwrap();
    let mut dst = vec![f32::NAN; p.output_shape(input).len()];
    p.sample_into(input, distill_data::SampleRef::U8(src), &mut dst);
    dst
}

#[test]
fn normalises_per_channel_in_nchw_and_nhwc() {
    // Two channels of 2 pixels: c0 = [0, 255], c1 = [51, 102].
    let src = [0, 255, 51, 102];
    let p = Preprocess {
        scale: 1.0 / 255.0,
        mean: vec![0.5, 0.0],
        std: vec![0.5, 0.2],
        ..Preprocess::default()
    };
    let s = shape(2, 1, 2);
    let nchw = run(&p, s, &src);
    let expect = [-1.0, 1.0, 1.0, 2.0];
    for (a, b) in nchw.iter().zip(expect) {
        assert!((a - b).abs() < 1e-6, "{nchw:?}");
    }
    let nhwc = run(
        &Preprocess {
            layout: Layout::Nhwc,
            ..p
        },
        s,
        &src,
    );
    for (a, b) in nhwc.iter().zip([-1.0, 1.0, 1.0, 2.0]) {
        assert!((a - b).abs() < 1e-6, "{nhwc:?}");
    }
    assert!(
        (nhwc[1] - 1.0).abs() < 1e-6,
        "pixel 0 of channel 1 comes second"
    );
}

#[test]
fn grayscale_is_replicated_and_rgb_becomes_luma() {
    let gray = [10, 20];
    let p = raw(Preprocess {
        channels: Some(3),
        ..Preprocess::default()
    });
    assert_eq!(p.output_shape(shape(1, 1, 2)), shape(3, 1, 2));
    assert_eq!(
        run(&p, shape(1, 1, 2), &gray),
        [10.0, 20.0, 10.0, 20.0, 10.0, 20.0]
    );

    // One pixel, R = 100, G = 200, B = 50: luma = 0.299*100 + 0.587*200 + 0.114*50.
    let p = raw(Preprocess {
        channels: Some(1),
        ..Preprocess::default()
    });
    let y = run(&p, shape(3, 1, 1), &[100, 200, 50]);
    assert!((y[0] - 153.0).abs() < 1e-3, "{y:?}");
    // 2 channels to 3 has no meaning.
    assert!(
        Preprocess {
            channels: Some(3),
            ..Preprocess::default()
        }
        .validate_shape(shape(2, 1, 1))
        .is_err()
    );
}

#[test]
fn resizes_bilinearly_before_normalising() {
    // A 2x2 image scaled to 4x4 (then halved by the scale): corners keep their values,
    // inner pixels sample the source at (0.25, 0.25) and (0.75, 0.75).
    let p = Preprocess {
        scale: 0.5,
        ..raw(Preprocess {
            resize: Some([4, 4]),
            ..Preprocess::default()
        })
    };
    let out = run(&p, shape(1, 2, 2), &[0, 40, 80, 120]);
    assert_eq!(out.len(), 16);
    assert_eq!(out[0], 0.0);
    assert_eq!(out[15], 60.0);
    // At (0.25, 0.25): 0.75*0.25*40 + 0.25*0.75*80 + 0.25*0.25*120 = 30, halved.
    assert!((out[5] - 15.0).abs() < 1e-4, "{out:?}");
    // At (0.75, 0.75): 0.25*0.75*40 + 0.75*0.25*80 + 0.75*0.75*120 = 90, halved.
    assert!((out[10] - 45.0).abs() < 1e-4, "{out:?}");
    assert_eq!(p.input_dims(shape(1, 2, 2)), vec![1, 4, 4]);
    let flat = Preprocess {
        layout: Layout::Flat,
        ..p
    };
    assert_eq!(flat.input_dims(shape(1, 2, 2)), vec![16]);
}

#[test]
fn sizes_parse_and_bad_values_are_refused() {
    assert_eq!(parse_size("224x192").unwrap(), [224, 192]);
    assert_eq!(parse_size("32").unwrap(), [32, 32]);
    assert!(parse_size("big").is_err());
    let zero = Preprocess {
        resize: Some([0, 4]),
        ..Preprocess::default()
    };
    assert!(zero.validate_shape(shape(1, 2, 2)).is_err());
    let mean3 = Preprocess {
        mean: vec![0.1, 0.2, 0.3],
        ..Preprocess::default()
    };
    // Three means fit grayscale data only once it is converted to 3 channels.
    assert!(mean3.validate_shape(shape(1, 2, 2)).is_err());
    let to_rgb = Preprocess {
        channels: Some(3),
        ..mean3
    };
    to_rgb.validate_shape(shape(1, 2, 2)).unwrap();
}

#[test]
fn shorter_side_resize_then_centre_crop_like_torchvision() {
    // A 2x4 image (H x W) whose columns are 0, 40, 80, 120: Resize(1) makes it 1x2 (the
    // longer side 1 * 4 / 2), sampling columns at 0.5 and 2.5 and rows at 0.5: 20 and 100.
    let src = [0, 40, 80, 120, 0, 40, 80, 120];
    let p = raw(Preprocess {
        resize_shorter: Some(1),
        ..Preprocess::default()
    });
    assert_eq!(p.output_shape(shape(1, 2, 4)), shape(1, 1, 2));
    assert_eq!(run(&p, shape(1, 2, 4), &src), [20.0, 100.0]);
    // Then CenterCrop(1): of width 2 the offset is round(0.5) = 0, the first column.
    let crop = raw(Preprocess {
        resize_shorter: Some(1),
        crop: Some([1, 1]),
        ..Preprocess::default()
    });
    assert_eq!(crop.output_shape(shape(1, 2, 4)), shape(1, 1, 1));
    assert_eq!(run(&crop, shape(1, 2, 4), &src), [20.0]);
    // A crop fixes the size of images of any size; a shorter-side resize alone does not.
    assert_eq!(crop.output_shape(shape(3, 0, 0)), shape(3, 1, 1));
    assert_eq!(p.output_shape(shape(3, 0, 0)), shape(3, 0, 0));
    // The geometry is not skipped for an image already at the crop size: Resize(4) of a
    // 2x2 image enlarges it before CenterCrop(2) takes its middle.
    let enlarge = raw(Preprocess {
        resize_shorter: Some(4),
        crop: Some([2, 2]),
        ..Preprocess::default()
    });
    assert!(!enlarge.keeps_geometry(shape(1, 2, 2)));
    let out = run(&enlarge, shape(1, 2, 2), &[0, 40, 80, 120]);
    // 4x4 bilinear of [[0, 40], [80, 120]] samples rows and columns 1, 2 at 0.25 and 0.75:
    // the middle 2x2 is [[30, 50], [70, 90]].
    assert_eq!(out, [30.0, 50.0, 70.0, 90.0]);
}

#[test]
fn geometry_results_are_rounded_to_bytes() {
    // Halving [0, 1] gives 0.5, which becomes a byte: 1 (round half away from zero).
    let p = raw(Preprocess {
        resize: Some([1, 1]),
        ..Preprocess::default()
    });
    assert_eq!(run(&p, shape(1, 1, 2), &[0, 1]), [1.0]);
}
