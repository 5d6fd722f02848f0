//! The grid's colours, shared by the GPU shader (uploaded once as a uniform), the CPU
//! fallback and the legend, so the legend can never disagree with the cells.

use egui::Color32;

use crate::abi::opcode::Opcode;
use crate::abi::status::SlotStatus;

const fn c(hex: u32) -> Color32 {
    Color32::from_rgb((hex >> 16) as u8, (hex >> 8) as u8, hex as u8)
}

/// Statuses EMPTY..FAULT, then "invalid".
pub const STATUS: [Color32; 9] = [
    c(0x2b2f36),
    c(0xf2b134),
    c(0x3d9df3),
    c(0x3fbf6f),
    c(0xa77ce8),
    c(0x2fc4b2),
    c(0xf07f36),
    c(0xe5484d),
    c(0xff4fd8),
];

/// Named opcodes in [`Opcode::NAMED`] order, then user opcodes, then other system values.
pub const OPCODE: [Color32; 14] = [
    c(0x8a8f98),
    c(0x4e9af1),
    c(0x52c41a),
    c(0x13c2c2),
    c(0x9254de),
    c(0xfa8c16),
    c(0xa0d911),
    c(0xeb2f96),
    c(0xff4d4f),
    c(0xfadb14),
    c(0x2f54eb),
    c(0xf5222d),
    c(0xd4a373),
    c(0xff00ff),
];

/// Tenants by id modulo 12.
pub const TENANT: [Color32; 12] = [
    c(0x4e79a7),
    c(0xf28e2b),
    c(0xe15759),
    c(0x76b7b2),
    c(0x59a14f),
    c(0xedc948),
    c(0xb07aa1),
    c(0xff9da7),
    c(0x9c755f),
    c(0xbab0ac),
    c(0x17becf),
    c(0xbcbd22),
];

/// Partitions CRITICAL..IDLE, then "no partition".
pub const PRIORITY: [Color32; 6] = [
    c(0xe5484d),
    c(0xf07f36),
    c(0xf2b134),
    c(0x3d9df3),
    c(0x8a8f98),
    c(0x2b2f36),
];

pub const BACKGROUND: Color32 = c(0x16181c);
pub const GAP: Color32 = c(0x101114);
pub const CHANGED: Color32 = c(0xffffff);
pub const SELECTED: Color32 = c(0xff3df0);

/// Palette index of an opcode (the shader's `opcode_index`).
pub fn opcode_index(op: u32) -> usize {
    match op {
        0..=7 => op as usize,
        0xFFFD => 8,
        0xFFFE => 9,
        0x8000_0001 => 10,
        0xFFFF_FFFF => 11,
        _ if Opcode(op).is_system() => 13,
        _ => 12,
    }
}

pub fn status_colour(s: SlotStatus) -> Color32 {
    STATUS[s.histogram_index()]
}

pub fn to_f32(c: Color32) -> [f32; 4] {
    [
        c.r() as f32 / 255.0,
        c.g() as f32 / 255.0,
        c.b() as f32 / 255.0,
        1.0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_indices_match_the_named_order() {
        for (i, op) in Opcode::NAMED.iter().enumerate() {
            assert_eq!(opcode_index(op.0), i, "{op}");
        }
        assert_eq!(opcode_index(8), 12);
        assert_eq!(opcode_index(0xFFF1), 13);
    }
}
