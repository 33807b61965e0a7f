//! `tradeoff.svg`: test accuracy against batch-1 latency (log scale), marker area by
//! parameters, hard-label baselines hollow, distilled students filled, the Pareto front
//! (chosen on validation accuracy) drawn as a line, the teacher and the picked student
//! marked. Plain SVG, readable in any browser.

use std::fmt::Write;

use crate::Report;

const W: f64 = 860.0;
const H: f64 = 520.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Tick values 1, 2, 5 × 10^k within [lo, hi].
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo && t <= hi {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

fn fmt_ms(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        let digits = (-v.log10().floor()) as usize;
        format!("{v:.digits$}")
    }
}

/// Where a label of `chars` characters starting at (x, y) overlaps no label placed so far:
/// moved down a line at a time (students of one architecture share a latency, so their
/// labels would otherwise pile up). Records the label's box.
fn free_spot(placed: &mut Vec<[f64; 4]>, x: f64, y: f64, chars: usize) -> (f64, f64) {
    let (w, h) = (chars as f64 * 5.6, 11.0);
    let mut y = y;
    while placed
        .iter()
        .any(|b| x < b[0] + b[2] && b[0] < x + w && y - h < b[1] && b[1] - h < y)
    {
        y += h;
    }
    placed.push([x, y, w, h]);
    (x, y)
}

/// A point of the plot: one configuration's student, or the teacher.
struct Point {
    latency: f64,
    accuracy: f64,
    params: u64,
}

/// The plot's scales: latency on a log axis, accuracy linear, marker radius by parameters.
struct Scale {
    lo: f64,
    hi: f64,
    alo: f64,
    ahi: f64,
    pmax: u64,
}

impl Scale {
    fn of<'a>(points: impl Iterator<Item = &'a Point>) -> Scale {
        let (mut lmin, mut lmax) = (f64::INFINITY, 0f64);
        let (mut amin, mut amax) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut pmax = 1u64;
        for p in points {
            lmin = lmin.min(p.latency);
            lmax = lmax.max(p.latency);
            amin = amin.min(p.accuracy);
            amax = amax.max(p.accuracy);
            pmax = pmax.max(p.params);
        }
        Scale {
            lo: lmin / 1.6,
            hi: lmax * 1.6,
            alo: (amin - 0.5).floor(),
            ahi: (amax + 0.5).ceil(),
            pmax,
        }
    }

    fn x(&self, l: f64) -> f64 {
        LEFT + (l.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
            * (W - LEFT - RIGHT)
    }

    fn y(&self, a: f64) -> f64 {
        H - BOTTOM - (a - self.alo) / (self.ahi - self.alo) * (H - TOP - BOTTOM)
    }

    fn radius(&self, p: u64) -> f64 {
        3.0 + 18.0 * (p as f64 / self.pmax as f64).sqrt()
    }
}

/// The plot of `report`; none when no row has a latency.
pub fn svg(report: &Report) -> Option<String> {
    let teacher = report.teacher.as_ref().and_then(|t| {
        Some(Point {
            latency: t.measure?.latency_ms_batch1,
            accuracy: 100.0 * t.test_accuracy?,
            params: t.measure?.params,
        })
    });
    let points: Vec<(usize, Point)> = report
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            Some((
                i,
                Point {
                    latency: r.latency_ms_batch1?,
                    accuracy: 100.0 * r.test_accuracy.mean,
                    params: r.params,
                },
            ))
        })
        .collect();
    if points.is_empty() {
        return None;
    }
    let scale = Scale::of(points.iter().map(|(_, p)| p).chain(teacher.as_ref()));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">Students: test accuracy vs batch-1 latency (ONNX Runtime, 1 thread)</text>"#
    );
    axes(&mut s, &scale);
    front(&mut s, &scale, report, &points);
    students(&mut s, &scale, report, &points);
    if let Some(t) = &teacher {
        teacher_marker(&mut s, &scale, t);
    }
    legend(&mut s);
    s.push_str("</svg>\n");
    Some(s)
}

/// Grid lines, ticks, the frame and the axis titles.
fn axes(s: &mut String, scale: &Scale) {
    for t in log_ticks(scale.lo, scale.hi) {
        let px = scale.x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 18.0,
            fmt_ms(t)
        );
    }
    let mut a = scale.alo;
    let step = if scale.ahi - scale.alo > 8.0 {
        2.0
    } else {
        1.0
    };
    while a <= scale.ahi + 1e-9 {
        let py = scale.y(a);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{a:.0}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0
        );
        a += step;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="#444"/>"##,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">latency per sample at batch 1, ms (log scale)</text>"#,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(20 {:.1}) rotate(-90)" text-anchor="middle">test accuracy, %</text>"#,
        TOP + (H - TOP - BOTTOM) / 2.0
    );
}

/// The Pareto front as a dashed line, in latency order.
fn front(s: &mut String, scale: &Scale, report: &Report, points: &[(usize, Point)]) {
    let mut front: Vec<&(usize, Point)> = points
        .iter()
        .filter(|(i, _)| report.rows[*i].pareto)
        .collect();
    front.sort_by(|a, b| a.1.latency.total_cmp(&b.1.latency));
    if front.len() > 1 {
        let path: Vec<String> = front
            .iter()
            .map(|(_, p)| format!("{:.1},{:.1}", scale.x(p.latency), scale.y(p.accuracy)))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#e67e22" stroke-width="2" stroke-dasharray="6 4"/>"##,
            path.join(" ")
        );
    }
}

/// A marker and a label per student: hollow for baselines, filled when distilled, ringed
/// when picked.
fn students(s: &mut String, scale: &Scale, report: &Report, points: &[(usize, Point)]) {
    let mut placed: Vec<[f64; 4]> = Vec::new();
    for (i, p) in points {
        let r = &report.rows[*i];
        let (px, py, rad) = (
            scale.x(p.latency),
            scale.y(p.accuracy),
            scale.radius(p.params),
        );
        let style = if r.temperature.is_none() {
            r##"fill="white" fill-opacity="0.6" stroke="#777" stroke-width="1.5""##
        } else {
            r##"fill="#2e86de" fill-opacity="0.55" stroke="#1b4f8a" stroke-width="1""##
        };
        let _ = writeln!(
            s,
            r#"<circle cx="{px:.1}" cy="{py:.1}" r="{rad:.1}" {style}><title>{} ({}): test {:.2}%, {:.4} ms, {} params</title></circle>"#,
            escape(&r.label),
            escape(&r.train),
            p.accuracy,
            p.latency,
            p.params
        );
        if r.best {
            let _ = writeln!(
                s,
                r##"<circle cx="{px:.1}" cy="{py:.1}" r="{:.1}" fill="none" stroke="#27ae60" stroke-width="3"/>"##,
                rad + 4.0
            );
        }
        let text = format!("{}{}", r.label, if r.best { " (best)" } else { "" });
        let (lx, ly) = free_spot(&mut placed, px + rad + 3.0, py + 3.0, text.len());
        let _ = writeln!(
            s,
            r##"<text x="{lx:.1}" y="{ly:.1}" font-size="10" fill="#333">{}</text>"##,
            escape(&text)
        );
    }
}

/// The teacher as a red diamond.
fn teacher_marker(s: &mut String, scale: &Scale, t: &Point) {
    let (px, py) = (scale.x(t.latency), scale.y(t.accuracy));
    let d = 9.0;
    let _ = writeln!(
        s,
        r##"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="#c0392b"/><text x="{:.1}" y="{:.1}" font-weight="bold" fill="#c0392b" text-anchor="end">teacher</text>"##,
        px,
        py - d,
        px + d,
        py,
        px,
        py + d,
        px - d,
        py,
        px - d - 3.0,
        py + 4.0
    );
}

/// The legend, right of the plot.
fn legend(s: &mut String) {
    let lx = W - RIGHT + 20.0;
    let legend = [
        (
            r##"<circle cx="{lx}" cy="{ly}" r="6" fill="#2e86de" fill-opacity="0.55" stroke="#1b4f8a"/>"##,
            "distilled student",
        ),
        (
            r##"<circle cx="{lx}" cy="{ly}" r="6" fill="white" stroke="#777" stroke-width="1.5"/>"##,
            "hard-label baseline",
        ),
        (
            r##"<line x1="{lx0}" y1="{ly}" x2="{lx1}" y2="{ly}" stroke="#e67e22" stroke-width="2" stroke-dasharray="6 4"/>"##,
            "Pareto front (val acc)",
        ),
        (
            r##"<circle cx="{lx}" cy="{ly}" r="8" fill="none" stroke="#27ae60" stroke-width="3"/>"##,
            "picked (best.onnx)",
        ),
        (
            r##"<polygon points="{lx},{lyt} {lxr},{ly} {lx},{lyb} {lxl},{ly}" fill="#c0392b"/>"##,
            "teacher",
        ),
    ];
    for (k, (shape, text)) in legend.iter().enumerate() {
        let ly = TOP + 20.0 + 26.0 * k as f64;
        let shape = shape
            .replace("{lx0}", &format!("{:.1}", lx - 10.0))
            .replace("{lx1}", &format!("{:.1}", lx + 10.0))
            .replace("{lxr}", &format!("{:.1}", lx + 7.0))
            .replace("{lxl}", &format!("{:.1}", lx - 7.0))
            .replace("{lyt}", &format!("{:.1}", ly - 7.0))
            .replace("{lyb}", &format!("{:.1}", ly + 7.0))
            .replace("{lx}", &format!("{lx:.1}"))
            .replace("{ly}", &format!("{ly:.1}"));
        let _ = writeln!(
            s,
            "{shape}<text x=\"{:.1}\" y=\"{:.1}\">{text}</text>",
            lx + 16.0,
            ly + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{lx:.1}" y="{:.1}" font-size="11" fill="#555">marker area ∝ parameters</text>"##,
        TOP + 20.0 + 26.0 * legend.len() as f64
    );
}
