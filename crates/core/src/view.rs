//! Augmented views: what one view of a sample is ([`ViewParams`]), how views are drawn
//! from a spec ([`ViewSpec`], the text of `--augment`), and how a view becomes model input
//! ([`render_view`]).
//!
//! A view is a handful of numbers, never pixels: a crop box in fractions of the image, a
//! flip, and for mixup a partner sample and a weight. They are drawn from a generator keyed
//! by (seed, sample id, view index), so the teacher (at its resolution) and a student (at
//! its own) see the same region of the same images, and any reader can replay a view from
//! the cache's columns.
//!
//! Rendering, for each image of the view (the sample, then its mixup partner):
//! 1. channel conversion as the preprocessing asks (replication or luma);
//! 2. with a crop box: the box in pixels is `floor(fraction * size + 0.5)` for top, left,
//!    height and width; pixels outside the image are 0 (a shift moves the box off the
//!    edge); the box is resized to the preprocessing's output size with its filter (plain
//!    bilinear with half-pixel centres, or Pillow's with `antialias`), rounded to bytes.
//!    Without a box: the preprocessing's own geometry (resize, centre crop);
//! 3. a horizontal flip of the result when `flip`;
//! 4. normalisation `(v * scale - mean) / std`;
//! 5. mixup: `lambda * sample + (1 - lambda) * partner`, after normalisation.
//!
//! Steps 2 and 3 are torchvision's `resized_crop(img, top, left, height, width, size,
//! antialias=False)` and `hflip` on a uint8 tensor.

use serde::{Deserialize, Serialize};

use crate::{ParseError, Preprocess, SampleShape, SplitMix64};

/// The scale and aspect-ratio ranges of a random-resized crop (torchvision's
/// `RandomResizedCrop`: the box covers `scale` of the image area, with width / height in
/// `ratio`, drawn log-uniformly).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropRange {
    /// Fraction of the image area, `[min, max]`.
    pub scale: [f64; 2],
    /// Width / height, `[min, max]`.
    pub ratio: [f64; 2],
}

impl Default for CropRange {
    /// torchvision's defaults: scale 0.08 to 1, ratio 3/4 to 4/3.
    fn default() -> Self {
        CropRange {
            scale: [0.08, 1.0],
            ratio: [3.0 / 4.0, 4.0 / 3.0],
        }
    }
}

/// Which augmentations a view draws: the text of `--augment`, comma-separated:
///
/// - `crop[:SMIN-SMAX[:RMIN-RMAX]]`: random-resized crop (default 0.08-1, 0.75-1.3333);
/// - `flip`: horizontal flip with probability 1/2;
/// - `shift[:N]`: translation by up to N pixels (default 2) in each direction, zeros
///   filling in;
/// - `mixup[:A]`: mixed with a random partner sample, weight drawn from Beta(A, A)
///   (default A = 1, uniform);
/// - `plain-first`: view 0 of every sample is the plain image (caches only).
///
/// The empty spec draws nothing: every view is the plain image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewSpec {
    /// Random-resized crop.
    pub crop: Option<CropRange>,
    /// Horizontal flip with probability 1/2.
    pub flip: bool,
    /// Largest shift in pixels.
    pub shift: Option<u32>,
    /// Beta(A, A) parameter of the mixup weight.
    pub mixup: Option<f64>,
    /// View 0 is the plain image.
    pub plain_first: bool,
}

/// A mixup partner and weight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    /// The partner's sample id.
    pub partner: u64,
    /// The weight of the sample itself; `1 - lambda` is the partner's.
    pub lambda: f32,
}

/// One view of a sample, in coordinates independent of resolution.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ViewParams {
    /// `[top, left, height, width]` of the crop box as fractions of the image's height and
    /// width (top and left may be negative, a box may leave the image); none: the
    /// preprocessing's own geometry.
    pub crop: Option<[f32; 4]>,
    /// Mirrored left-right.
    pub flip: bool,
    /// Mixed with a partner sample.
    pub mix: Option<Mix>,
}

impl ViewParams {
    /// Whether this is the plain image.
    pub fn is_plain(&self) -> bool {
        *self == ViewParams::default()
    }

    /// The crop box in pixels of an image of `[height, width]`: `[top, left, height,
    /// width]`, each `floor(fraction * size + 0.5)`.
    pub fn pixel_box(&self, [h, w]: [usize; 2]) -> Option<[isize; 4]> {
        let px = |f: f32, size: usize| (f as f64 * size as f64 + 0.5).floor() as isize;
        self.crop
            .map(|[t, l, bh, bw]| [px(t, h), px(l, w), px(bh, h), px(bw, w)])
    }
}

fn range(text: &str) -> Option<[f64; 2]> {
    let (a, b) = text.split_once('-')?;
    let (a, b): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a.is_finite() && b.is_finite() && 0.0 < a && a <= b).then_some([a, b])
}

impl std::str::FromStr for ViewSpec {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| ParseError::new("augmentation", text, why);
        let mut spec = ViewSpec::default();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, args) = item.split_once(':').unwrap_or((item, ""));
            match name {
                "crop" => {
                    let mut c = CropRange::default();
                    let mut it = args.split(':').filter(|a| !a.is_empty());
                    if let Some(s) = it.next() {
                        c.scale = range(s).filter(|s| s[1] <= 1.0).ok_or_else(|| {
                            bad(format!(
                                "crop scale '{s}': expected MIN-MAX with 0 < MIN <= MAX <= 1"
                            ))
                        })?;
                    }
                    if let Some(r) = it.next() {
                        c.ratio = range(r).ok_or_else(|| {
                            bad(format!(
                                "crop ratio '{r}': expected MIN-MAX with 0 < MIN <= MAX"
                            ))
                        })?;
                    }
                    if let Some(extra) = it.next() {
                        return Err(bad(format!(
                            "crop takes a scale and a ratio range, not '{extra}'"
                        )));
                    }
                    spec.crop = Some(c);
                }
                "flip" if args.is_empty() => spec.flip = true,
                "plain-first" if args.is_empty() => spec.plain_first = true,
                "shift" => {
                    spec.shift = Some(if args.is_empty() {
                        2
                    } else {
                        args.parse()
                            .map_err(|_| bad(format!("shift '{args}': expected a pixel count")))?
                    })
                }
                "mixup" => {
                    let a: f64 = if args.is_empty() {
                        1.0
                    } else {
                        args.parse()
                            .map_err(|_| bad(format!("mixup '{args}': expected a number")))?
                    };
                    if !(a > 0.0 && a.is_finite()) {
                        return Err(bad(format!(
                            "mixup {a}: the Beta parameter must be positive"
                        )));
                    }
                    spec.mixup = Some(a);
                }
                _ => {
                    return Err(bad(format!(
                        "unknown augmentation '{item}': expected crop[:SMIN-SMAX[:RMIN-RMAX]], flip, shift[:N], mixup[:A] or plain-first"
                    )));
                }
            }
        }
        Ok(spec)
    }
}

impl std::fmt::Display for ViewSpec {
    /// The canonical text: items in a fixed order with every parameter written out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut items = Vec::new();
        if let Some(c) = self.crop {
            items.push(format!(
                "crop:{}-{}:{}-{}",
                c.scale[0], c.scale[1], c.ratio[0], c.ratio[1]
            ));
        }
        if self.flip {
            items.push("flip".into());
        }
        if let Some(n) = self.shift {
            items.push(format!("shift:{n}"));
        }
        if let Some(a) = self.mixup {
            items.push(format!("mixup:{a}"));
        }
        if self.plain_first {
            items.push("plain-first".into());
        }
        f.write_str(&items.join(","))
    }
}

/// Serialised as its canonical text; read from that text, or from the list of names
/// (`["flip", "shift"]`) that runs of distill 0.1 recorded.
impl Serialize for ViewSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ViewSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            One(String),
            List(Vec<String>),
        }
        let text = match Text::deserialize(d)? {
            Text::One(t) => t,
            Text::List(l) => l.join(","),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl ViewSpec {
    /// Whether the spec draws nothing.
    pub fn is_empty(&self) -> bool {
        self.crop.is_none() && !self.flip && self.shift.is_none() && self.mixup.is_none()
    }

    /// Whether views change the geometry (a crop box), so they are rendered from the
    /// source image rather than from one brought to the output size.
    pub fn moves_pixels(&self) -> bool {
        self.crop.is_some() || self.shift.is_some()
    }

    /// View `view` of sample `sample_id`, an image of `[height, width]`, drawn from the
    /// generator keyed by `(seed, sample_id, view)`; a mixup partner is one of
    /// `partners` (the split's sample ids). The order of the draws is fixed: crop, shift,
    /// flip, mixup partner, mixup weight.
    pub fn draw(
        &self,
        seed: u64,
        sample_id: u64,
        view: u64,
        [h, w]: [usize; 2],
        partners: &[u64],
    ) -> ViewParams {
        if self.plain_first && view == 0 {
            return ViewParams::default();
        }
        let mut rng = SplitMix64::derive(seed, sample_id, view);
        let mut pixel_box = [0i64, 0, h as i64, w as i64];
        if let Some(range) = self.crop {
            pixel_box = random_resized_crop(&mut rng, range, [h, w]);
        }
        if let Some(n) = self.shift {
            let n = n as u64;
            let dy = rng.below(2 * n + 1) as i64 - n as i64;
            let dx = rng.below(2 * n + 1) as i64 - n as i64;
            // The content moves by (dy, dx): the box moves the other way.
            pixel_box[0] -= dy;
            pixel_box[1] -= dx;
        }
        let crop = self.moves_pixels().then(|| {
            let [t, l, bh, bw] = pixel_box;
            let (h, w) = (h.max(1) as f64, w.max(1) as f64);
            [t as f64 / h, l as f64 / w, bh as f64 / h, bw as f64 / w].map(|v| v as f32)
        });
        let flip = self.flip && rng.below(2) == 1;
        let mix = match self.mixup {
            Some(a) if !partners.is_empty() => {
                let partner = partners[rng.below(partners.len() as u64) as usize];
                let lambda = rng.beta_symmetric(a) as f32;
                Some(Mix { partner, lambda })
            }
            _ => None,
        };
        ViewParams { crop, flip, mix }
    }
}

/// torchvision's `RandomResizedCrop.get_params` in pixels: `[top, left, height, width]`.
fn random_resized_crop(rng: &mut SplitMix64, range: CropRange, [h, w]: [usize; 2]) -> [i64; 4] {
    let (hf, wf) = (h as f64, w as f64);
    let area = hf * wf;
    let log_ratio = [range.ratio[0].ln(), range.ratio[1].ln()];
    for _ in 0..10 {
        let target = area * rng.uniform(range.scale[0], range.scale[1]);
        let aspect = rng.uniform(log_ratio[0], log_ratio[1]).exp();
        let bw = (target * aspect).sqrt().round() as i64;
        let bh = (target / aspect).sqrt().round() as i64;
        if 0 < bw && bw <= w as i64 && 0 < bh && bh <= h as i64 {
            let top = rng.below((h as i64 - bh + 1) as u64) as i64;
            let left = rng.below((w as i64 - bw + 1) as u64) as i64;
            return [top, left, bh, bw];
        }
    }
    // Fallback: the whole image, brought within the ratio range, centred.
    let in_ratio = wf / hf;
    let (bh, bw) = if in_ratio < range.ratio[0] {
        ((wf / range.ratio[0]).round() as i64, w as i64)
    } else if in_ratio > range.ratio[1] {
        (h as i64, (hf * range.ratio[1]).round() as i64)
    } else {
        (h as i64, w as i64)
    };
    [(h as i64 - bh) / 2, (w as i64 - bw) / 2, bh, bw]
}

/// One image of a view at the output size of `preprocess`, as bytes `[C', H', W']`:
/// channel conversion, the crop box (or the preprocessing's geometry), the flip.
fn view_bytes(
    preprocess: &Preprocess,
    shape: SampleShape,
    src: &[u8],
    view: &ViewParams,
) -> (SampleShape, Vec<u8>) {
    let (out, mut bytes) = match view.pixel_box([shape.height, shape.width]) {
        None if preprocess.keeps_geometry(shape) => (shape, src.to_vec()),
        None => preprocess.geometry(shape, src),
        Some(pixel_box) => {
            let out = preprocess.output_shape(shape);
            let filter = preprocess.resize_filter();
            let planes = preprocess.convert_channels(shape, src);
            let bytes: Vec<u8> = planes
                .iter()
                .flat_map(|p| {
                    let (cropped, size) = crop_plane(p, [shape.height, shape.width], pixel_box);
                    let to = [out.height, out.width];
                    if size == to {
                        cropped
                    } else {
                        filter(&cropped, size, to)
                    }
                })
                .collect();
            (out, bytes)
        }
    };
    if view.flip {
        for row in bytes.chunks_mut(out.width.max(1)) {
            row.reverse();
        }
    }
    (out, bytes)
}

/// The pixels of `[top, left, height, width]` of a `[h, w]` plane, zeros outside it, and
/// the box's size (at least 1x1).
fn crop_plane(src: &[u8], [h, w]: [usize; 2], [t, l, bh, bw]: [isize; 4]) -> (Vec<u8>, [usize; 2]) {
    let (bh, bw) = (bh.max(1) as usize, bw.max(1) as usize);
    let mut out = vec![0u8; bh * bw];
    for y in 0..bh {
        let sy = t + y as isize;
        if !(0..h as isize).contains(&sy) {
            continue;
        }
        for x in 0..bw {
            let sx = l + x as isize;
            if (0..w as isize).contains(&sx) {
                out[y * bw + x] = src[sy as usize * w + sx as usize];
            }
        }
    }
    (out, [bh, bw])
}

/// Renders view `view` of an 8-bit sample (`[C, H, W]` of `shape`) into `dst`, which holds
/// `preprocess.output_shape(shape).len()` values in `preprocess.layout`; `partner` is the
/// mixup partner's sample (required when the view mixes). See the module docs for the
/// exact steps.
pub fn render_view(
    preprocess: &Preprocess,
    shape: SampleShape,
    src: &[u8],
    view: &ViewParams,
    partner: Option<(SampleShape, &[u8])>,
    dst: &mut [f32],
) {
    let (out, bytes) = view_bytes(preprocess, shape, src, view);
    preprocess.normalise_bytes(out, &bytes, dst);
    if let (Some(mix), Some((p_shape, p_src))) = (view.mix, partner) {
        let (p_out, p_bytes) = view_bytes(preprocess, p_shape, p_src, view);
        let mut other = vec![0f32; dst.len()];
        preprocess.normalise_bytes(p_out, &p_bytes, &mut other);
        let lambda = mix.lambda;
        for (d, o) in dst.iter_mut().zip(&other) {
            *d = lambda * *d + (1.0 - lambda) * o;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST: [usize; 2] = [28, 28];

    #[test]
    fn specs_parse_to_a_canonical_text_and_back() {
        let spec: ViewSpec = "flip, crop:0.35-1 ,mixup:0.4,shift".parse().unwrap();
        assert_eq!(
            spec.to_string(),
            "crop:0.35-1:0.75-1.3333333333333333,flip,shift:2,mixup:0.4"
        );
        assert_eq!(spec.to_string().parse::<ViewSpec>().unwrap(), spec);
        let old: ViewSpec = serde_json::from_str(r#"["flip","shift"]"#).unwrap();
        assert_eq!(old.to_string(), "flip,shift:2");
        for bad in [
            "crop:0-1",
            "crop:0.5-2",
            "shift:x",
            "mixup:0",
            "rotate",
            "flip:2",
        ] {
            let err = bad.parse::<ViewSpec>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
        assert!("".parse::<ViewSpec>().unwrap().is_empty());
    }

    #[test]
    fn views_are_reproducible_and_in_range() {
        let spec: ViewSpec = "crop:0.25-1,flip,shift:2,mixup".parse().unwrap();
        let ids: Vec<u64> = (100..200).collect();
        let mut flips = 0;
        for id in 0..200u64 {
            let v = spec.draw(7, id, 3, MNIST, &ids);
            assert_eq!(v, spec.draw(7, id, 3, MNIST, &ids));
            assert_ne!(v, spec.draw(7, id, 4, MNIST, &ids));
            let [t, l, h, w] = v.pixel_box(MNIST).unwrap();
            let area = (h * w) as f64 / (28.0 * 28.0);
            assert!((0.2..=1.0).contains(&area), "{area}");
            assert!(t >= -2 && l >= -2 && t + h <= 30 && l + w <= 30);
            let mix = v.mix.unwrap();
            assert!(ids.contains(&mix.partner) && (0.0..=1.0).contains(&mix.lambda));
            flips += usize::from(v.flip);
        }
        assert!((60..140).contains(&flips), "{flips}");
        let plain: ViewSpec = "flip,plain-first".parse().unwrap();
        assert!(plain.draw(7, 1, 0, MNIST, &ids).is_plain());
        assert_eq!(plain.draw(7, 1, 1, MNIST, &ids).crop, None);
    }

    #[test]
    fn a_shift_moves_pixels_and_a_flip_mirrors_them() {
        let p = Preprocess {
            scale: 1.0,
            ..Preprocess::default()
        };
        let shape = SampleShape {
            channels: 1,
            height: 3,
            width: 3,
        };
        let src: Vec<u8> = (1..=9).collect();
        let mut dst = vec![0f32; 9];
        // Content moved down one row and right one column, then mirrored.
        let view = ViewParams {
            crop: Some([-1.0 / 3.0, -1.0 / 3.0, 1.0, 1.0]),
            flip: true,
            mix: None,
        };
        render_view(&p, shape, &src, &view, None, &mut dst);
        assert_eq!(dst, [0., 0., 0., 2., 1., 0., 5., 4., 0.]);
        // Mixed half and half with a partner of all 9s.
        let view = ViewParams {
            crop: None,
            flip: false,
            mix: Some(Mix {
                partner: 1,
                lambda: 0.5,
            }),
        };
        render_view(&p, shape, &src, &view, Some((shape, &[9; 9])), &mut dst);
        assert_eq!(dst, [5., 5.5, 6., 6.5, 7., 7.5, 8., 8.5, 9.]);
    }

    #[test]
    fn a_crop_box_is_resized_to_the_output_size() {
        let p = Preprocess {
            scale: 1.0,
            ..Preprocess::default()
        };
        let shape = SampleShape {
            channels: 1,
            height: 4,
            width: 4,
        };
        let src: Vec<u8> = (0..16).map(|v| v * 10).collect();
        let mut dst = vec![0f32; 16];
        // The top-left 2x2 quarter brought to 4x4: bilinear with half-pixel centres.
        let view = ViewParams {
            crop: Some([0.0, 0.0, 0.5, 0.5]),
            ..ViewParams::default()
        };
        render_view(&p, shape, &src, &view, None, &mut dst);
        // Row 0 of the box is [0, 10], row 1 is [40, 50].
        assert_eq!(&dst[..4], &[0., 3., 8., 10.]); // 2.5 and 7.5 rounded half away
        assert_eq!(&dst[12..], &[40., 43., 48., 50.]);
    }
}
