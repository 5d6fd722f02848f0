//! What the app can export besides sessions and dumps: tables as CSV (the debug log, the
//! diagnostics, a diff, a word's history) and a plot as PNG. The path is asked for like
//! any other file; the content is made when it is written, from what is shown then.

use crate::debugger::who_wrote::WordRef;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    DebugLog,
    Diagnostics,
    /// The timeline panel's diff between its two points.
    Diff,
    WordHistory(WordRef),
    /// The plot shown, as a PNG of its pixels.
    Plot,
}

impl Export {
    pub fn title(self) -> &'static str {
        match self {
            Export::DebugLog => "Export the debug log as CSV",
            Export::Diagnostics => "Export the diagnostics as CSV",
            Export::Diff => "Export the diff as CSV",
            Export::WordHistory(_) => "Export the word's history as CSV",
            Export::Plot => "Export the plot as PNG",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Export::Plot => "png",
            _ => "csv",
        }
    }

    /// A file name to start from.
    pub fn file_name(self) -> String {
        let stem = match self {
            Export::DebugLog => "debug_log".to_string(),
            Export::Diagnostics => "diagnostics".to_string(),
            Export::Diff => "diff".to_string(),
            Export::WordHistory(WordRef::Control(w)) => format!("control_{w}_history"),
            Export::WordHistory(WordRef::Slot { slot, word }) => {
                format!("slot_{slot}_word_{word}_history")
            }
            Export::Plot => "plot".to_string(),
        };
        format!("{stem}.{}", self.extension())
    }
}

/// Cuts `rect` (points) out of a screenshot and encodes it as PNG.
pub fn png_of(
    image: &egui::ColorImage,
    rect: egui::Rect,
    pixels_per_point: f32,
) -> Result<Vec<u8>, String> {
    let r = rect * pixels_per_point;
    let [w, h] = image.size;
    let x0 = (r.min.x.max(0.0) as usize).min(w);
    let y0 = (r.min.y.max(0.0) as usize).min(h);
    let x1 = (r.max.x.max(0.0) as usize).min(w);
    let y1 = (r.max.y.max(0.0) as usize).min(h);
    if x1 <= x0 || y1 <= y0 {
        return Err("the plot is not on screen: show the Plots panel and export again".into());
    }
    let mut rgba = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
    for y in y0..y1 {
        for p in &image.pixels[y * w + x0..y * w + x1] {
            rgba.extend_from_slice(&p.to_array());
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, (x1 - x0) as u32, (y1 - y0) as u32);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(&rgba).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_what_and_which_word() {
        assert_eq!(Export::Diagnostics.file_name(), "diagnostics.csv");
        assert_eq!(
            Export::WordHistory(WordRef::Slot { slot: 3, word: 0 }).file_name(),
            "slot_3_word_0_history.csv"
        );
        assert_eq!(Export::Plot.file_name(), "plot.png");
    }

    #[test]
    fn a_plot_is_cut_from_the_screenshot_and_encoded() {
        let mut img = egui::ColorImage::filled([8, 6], egui::Color32::BLACK);
        img.pixels[2 * 8 + 3] = egui::Color32::RED;
        let rect = egui::Rect::from_min_max(egui::pos2(1.0, 1.0), egui::pos2(2.0, 2.0));
        let bytes = png_of(&img, rect, 2.0).unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (2, 2));
        assert_eq!(&buf[4..8], &[255, 0, 0, 255], "pixel (3, 2) is red");
        let off = egui::Rect::from_min_max(egui::pos2(50.0, 50.0), egui::pos2(60.0, 60.0));
        assert!(
            png_of(&img, off, 1.0)
                .unwrap_err()
                .contains("not on screen")
        );
    }
}
