//! benchmarks.svg: corio's median over the best peer's, per workload and worker count.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::Report;

const WIN: RGBColor = RGBColor(46, 139, 87);
const WIN_N: RGBColor = RGBColor(120, 200, 150);
const LOSS: RGBColor = RGBColor(200, 50, 50);
const LOSS_N: RGBColor = RGBColor(240, 140, 130);
const MOONSHOT: RGBColor = RGBColor(70, 110, 200);

/// Horizontal bars on a log axis, growing from 1.0: left of the line corio is ahead, right of
/// it behind. Darker bars are 1 worker, lighter ones more (N = cores by default, or the counts
/// of `--workers`; each row's label names its count).
pub(crate) fn draw(report: &Report, path: &Path) -> Result<(), Box<dyn Error>> {
    let rows: Vec<(String, Option<f64>, bool)> = report
        .rows
        .iter()
        .map(|r| (r.label(), r.ratio_to_peer(), r.workers == 1))
        .collect();
    let n = rows.len().max(1);
    let known: Vec<f64> = rows.iter().filter_map(|r| r.1).collect();
    let lo = known.iter().copied().fold(0.5_f64, f64::min) * 0.8;
    let hi = known.iter().copied().fold(2.0_f64, f64::max) * 1.3;
    let height = 150 + 24 * n as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, footer) = root.split_vertically(height - 30);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "corio median / best peer median (log scale; left of 1.0 = corio faster)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(200)
        .build_cartesian_2d(
            (lo..hi).log_scale().with_key_points(ticks(lo, hi)),
            (0..n).into_segmented(),
        )?;
    let label_of = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) if *i < rows.len() => rows[rows.len() - 1 - i].0.clone(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .y_labels(n)
        .y_label_formatter(&label_of)
        .x_label_formatter(&|v| format!("{v}"))
        .x_desc(format!(
            "corio / best of tokio and smol (medians; {} run)",
            report.scale_name()
        ))
        .label_style(("sans-serif", 13))
        .disable_y_mesh()
        .draw()?;
    for (i, (_, ratio, one_worker)) in rows.iter().enumerate() {
        let y = rows.len() - 1 - i;
        let Some(r) = *ratio else {
            chart.draw_series([Text::new(
                "n/a (a case failed)",
                (1.0, SegmentValue::CenterOf(y)),
                ("sans-serif", 12),
            )])?;
            continue;
        };
        let color = match (r <= 1.0, one_worker) {
            (true, true) => WIN,
            (true, false) => WIN_N,
            (false, true) => LOSS,
            (false, false) => LOSS_N,
        };
        let mut bar = Rectangle::new(
            [
                (1.0, SegmentValue::Exact(y)),
                (r, SegmentValue::Exact(y + 1)),
            ],
            color.filled(),
        );
        bar.set_margin(3, 3, 0, 0);
        chart.draw_series([bar])?;
        let at = if r <= 1.0 { r / 1.02 } else { r * 1.02 };
        let style = TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(
            if r <= 1.0 { HPos::Right } else { HPos::Left },
            VPos::Center,
        ));
        chart.draw_series([Text::new(
            format!("{r:.2}"),
            (at, SegmentValue::CenterOf(y)),
            style,
        )])?;
    }
    chart.draw_series([PathElement::new(
        vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Last)],
        BLACK.stroke_width(2),
    )])?;
    if lo < 0.8 {
        chart.draw_series([PathElement::new(
            vec![(0.8, SegmentValue::Exact(0)), (0.8, SegmentValue::Last)],
            MOONSHOT.stroke_width(1),
        )])?;
    }
    let many = report.many_workers_label();
    let legend = [
        (WIN, "corio ahead, 1 worker".to_owned()),
        (WIN_N, format!("corio ahead, {many}")),
        (LOSS, "corio behind, 1 worker".to_owned()),
        (LOSS_N, format!("corio behind, {many}")),
        (MOONSHOT, "0.8: the moonshot".to_owned()),
    ];
    for (k, (color, text)) in legend.iter().enumerate() {
        let x = 40 + 190 * k as i32;
        footer.draw(&Rectangle::new([(x, 8), (x + 12, 20)], color.filled()))?;
        footer.draw(&Text::new(text.as_str(), (x + 17, 8), ("sans-serif", 12)))?;
    }
    root.present()?;
    Ok(())
}

/// Round ratios inside the axis, so that both sides of 1.0 get labels on the log scale.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    [
        0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0,
    ]
    .into_iter()
    .filter(|t| (lo..=hi).contains(t))
    .collect()
}
