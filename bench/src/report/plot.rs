//! The plotters pieces every run folder's SVG is drawn with (`store.svg`, `shard.svg`,
//! `route.svg`, `controller.svg`, `pipeline.svg`): a white SVG canvas, a bar chart over
//! categories with its y axis, grouped bars, the names under the bars, and legends.
//!
//! A bar chart's x axis is categories: category `i` spans `[i, i + 1)`. No x axis is
//! drawn; [`category_label`] writes each category's name under its bars.

use std::ops::Range;

use anyhow::{anyhow, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// An SVG drawing area.
pub type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;

/// A bar chart: categories on x ([`bar_chart`]), a linear y.
pub type BarChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Bar colours of grouped bars, by series.
pub const PALETTE: [RGBColor; 4] = [
    RGBColor(70, 110, 170),
    RGBColor(46, 139, 87),
    RGBColor(205, 92, 92),
    RGBColor(218, 165, 32),
];

/// A plotting error as an [`anyhow::Error`].
pub fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("chart: {e:?}")
}

/// An SVG of `size` pixels: fills it white, lets `draw` paint it, and returns the text.
pub fn svg(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Result<()>) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The caption, margin and y axis of a [`bar_chart`].
#[derive(Clone, Copy, Debug)]
pub struct Frame<'s> {
    /// The caption.
    pub title: &'s str,
    /// The caption's font size.
    pub title_size: u32,
    /// Margin around the chart, pixels.
    pub margin: u32,
    /// Width of the y labels' area, pixels.
    pub y_label_area: u32,
    /// The y axis's description.
    pub y_desc: &'s str,
}

/// A bar chart on `area` over `categories` categories (at least one) and `y`, with a
/// y mesh labelled by `y_fmt` and no x axis.
pub fn bar_chart<'a, 'b>(
    area: &'a Area<'b>,
    frame: &Frame<'_>,
    categories: usize,
    y: Range<f64>,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Result<BarChart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(frame.title, ("sans-serif", frame.title_size))
        .margin(frame.margin)
        .x_label_area_size(10)
        .y_label_area_size(frame.y_label_area)
        .build_cartesian_2d(0f64..categories.max(1) as f64, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc(frame.y_desc)
        .y_label_formatter(y_fmt)
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// Writes `text` centred under category `i`, its top at `y`, in a font of `size`.
pub fn category_label(
    chart: &mut BarChart<'_, '_>,
    i: usize,
    y: f64,
    text: &str,
    size: u32,
) -> Result<()> {
    chart
        .draw_series([Text::new(
            text.to_string(),
            (i as f64 + 0.5, y),
            ("sans-serif", size)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        )])
        .map_err(err)?;
    Ok(())
}

/// Grouped bars: category `g` holds a bar per series `s` from `base` to `value(g, s)`
/// (none where that is `None`) in [`PALETTE`] colour `s`, the `series` bars sharing
/// the middle 80% of the category; under each category its name from `groups` (top at
/// `label_y`, font `label_size`).
pub fn grouped_bars(
    chart: &mut BarChart<'_, '_>,
    groups: &[&str],
    series: usize,
    base: f64,
    (label_y, label_size): (f64, u32),
    value: impl Fn(usize, usize) -> Option<f64>,
) -> Result<()> {
    let width = 0.8 / series.max(1) as f64;
    for (gi, group) in groups.iter().enumerate() {
        for si in 0..series {
            let Some(v) = value(gi, si) else {
                continue;
            };
            let x0 = gi as f64 + 0.1 + si as f64 * width;
            chart
                .draw_series([Rectangle::new(
                    [(x0, base), (x0 + width * 0.9, v)],
                    PALETTE[si % PALETTE.len()].filled(),
                )])
                .map_err(err)?;
        }
        category_label(chart, gi, label_y, group, label_size)?;
    }
    Ok(())
}

/// Adds a legend entry `label` shown as a filled `color` swatch (a series that draws
/// nothing).
pub fn legend_swatch<CT: CoordTranslate>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, CT>,
    label: impl Into<String>,
    color: RGBColor,
) -> Result<()> {
    chart
        .draw_series(std::iter::empty::<Rectangle<CT::From>>())
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled()));
    Ok(())
}

/// Draws the legend of every labelled series at `position`, on a translucent white box
/// with a grey border.
pub fn legend_box<'a, 'b: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(err)?;
    Ok(())
}
