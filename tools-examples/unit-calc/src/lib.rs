//! `unit-calc`: converts a value between units of the same dimension.
//!
//! Input `{"value": 5, "from": "km", "to": "mi"}`; output `{"value": 3.10685596119, "unit": "mi"}`
//! (rounded to 12 significant digits). Unit symbols are case-sensitive (`b` is a bit, `B` a byte).
//! Dimensions: length, mass, time, data size (decimal `kB`/`KB`, `MB`… and binary `KiB`, `MiB`…),
//! and temperature (`C`, `F`, `K`). Converting between dimensions, an unknown unit, a
//! non-finite result or a temperature below absolute zero is `invalid-input`.

use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// The value and the units to convert between.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The quantity in `from` units.
    value: f64,
    /// Unit symbol of `value`, e.g. `km`, `lb`, `h`, `MiB`, `C`.
    from: String,
    /// Unit symbol to convert to.
    to: String,
}

/// The converted value.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// The quantity in `unit`, rounded to 12 significant digits.
    value: f64,
    /// The target unit symbol, as given in `to`.
    unit: String,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Dimension {
    Length,
    Mass,
    Time,
    Data,
    Temperature,
}

impl Dimension {
    fn name(self) -> &'static str {
        match self {
            Self::Length => "length",
            Self::Mass => "mass",
            Self::Time => "time",
            Self::Data => "data size",
            Self::Temperature => "temperature",
        }
    }
}

use Dimension::*;

const KIB: f64 = 1024.0;

/// Symbol, dimension, size of one unit in the base unit (m, kg, s, byte; kelvin for temperature
/// is handled separately).
const UNITS: &[(&str, Dimension, f64)] = &[
    ("nm", Length, 1e-9),
    ("um", Length, 1e-6),
    ("µm", Length, 1e-6),
    ("mm", Length, 1e-3),
    ("cm", Length, 1e-2),
    ("m", Length, 1.0),
    ("km", Length, 1e3),
    ("in", Length, 0.0254),
    ("ft", Length, 0.3048),
    ("yd", Length, 0.9144),
    ("mi", Length, 1609.344),
    ("nmi", Length, 1852.0),
    ("ug", Mass, 1e-9),
    ("µg", Mass, 1e-9),
    ("mg", Mass, 1e-6),
    ("g", Mass, 1e-3),
    ("kg", Mass, 1.0),
    ("t", Mass, 1e3),
    ("oz", Mass, 0.028349523125),
    ("lb", Mass, 0.45359237),
    ("st", Mass, 6.35029318),
    ("ns", Time, 1e-9),
    ("us", Time, 1e-6),
    ("µs", Time, 1e-6),
    ("ms", Time, 1e-3),
    ("s", Time, 1.0),
    ("min", Time, 60.0),
    ("h", Time, 3600.0),
    ("d", Time, 86400.0),
    ("wk", Time, 604800.0),
    ("yr", Time, 31557600.0), // Julian year, 365.25 days
    ("b", Data, 0.125),
    ("B", Data, 1.0),
    ("kB", Data, 1e3),
    ("KB", Data, 1e3),
    ("MB", Data, 1e6),
    ("GB", Data, 1e9),
    ("TB", Data, 1e12),
    ("PB", Data, 1e15),
    ("KiB", Data, KIB),
    ("MiB", Data, KIB * KIB),
    ("GiB", Data, KIB * KIB * KIB),
    ("TiB", Data, KIB * KIB * KIB * KIB),
    ("PiB", Data, KIB * KIB * KIB * KIB * KIB),
    ("C", Temperature, 1.0),
    ("F", Temperature, 1.0),
    ("K", Temperature, 1.0),
];

fn unit(symbol: &str) -> Result<(Dimension, f64), ToolError> {
    UNITS
        .iter()
        .find(|(s, _, _)| *s == symbol)
        .map(|&(_, dimension, factor)| (dimension, factor))
        .ok_or_else(|| {
            let known: Vec<&str> = UNITS.iter().map(|(s, _, _)| *s).collect();
            ToolError::invalid_input(format!(
                "unknown unit `{symbol}`; known units: {}",
                known.join(", ")
            ))
        })
}

fn to_kelvin(value: f64, symbol: &str) -> f64 {
    match symbol {
        "C" => value + 273.15,
        "F" => (value - 32.0) * 5.0 / 9.0 + 273.15,
        _ => value,
    }
}

fn from_kelvin(kelvin: f64, symbol: &str) -> f64 {
    match symbol {
        "C" => kelvin - 273.15,
        "F" => (kelvin - 273.15) * 9.0 / 5.0 + 32.0,
        _ => kelvin,
    }
}

/// Rounds to 12 significant digits so that `0.1 + 0.2`-style noise does not reach the caller.
fn round(value: f64) -> f64 {
    format!("{value:.11e}").parse().unwrap_or(value)
}

fn unit_calc(input: Input) -> Result<Output, ToolError> {
    let (from_dim, from_factor) = unit(&input.from)?;
    let (to_dim, to_factor) = unit(&input.to)?;
    if from_dim != to_dim {
        return Err(ToolError::invalid_input(format!(
            "cannot convert `{}` ({}) to `{}` ({})",
            input.from,
            from_dim.name(),
            input.to,
            to_dim.name()
        )));
    }
    let value = if from_dim == Temperature {
        let kelvin = to_kelvin(input.value, &input.from);
        if kelvin < 0.0 {
            return Err(ToolError::invalid_input(format!(
                "{} {} is below absolute zero",
                input.value, input.from
            )));
        }
        from_kelvin(kelvin, &input.to)
    } else {
        input.value * from_factor / to_factor
    };
    if !value.is_finite() {
        return Err(ToolError::invalid_input(format!(
            "{} {} in {} is out of range",
            input.value, input.from, input.to
        )));
    }
    Ok(Output {
        value: round(value),
        unit: input.to,
    })
}

wasmgov_sdk::export_tool!(unit_calc);

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(value: f64, from: &str, to: &str) -> Result<f64, ToolError> {
        unit_calc(Input {
            value,
            from: from.into(),
            to: to.into(),
        })
        .map(|o| o.value)
    }

    #[test]
    fn conversions() {
        assert_eq!(convert(5.0, "km", "mi").unwrap(), 3.10685596119);
        assert_eq!(convert(1.0, "MiB", "KiB").unwrap(), 1024.0);
        assert_eq!(convert(1.0, "MB", "B").unwrap(), 1e6);
        assert_eq!(convert(8.0, "b", "B").unwrap(), 1.0);
        assert_eq!(convert(100.0, "C", "F").unwrap(), 212.0);
        assert_eq!(convert(0.0, "K", "C").unwrap(), -273.15);
        assert_eq!(convert(90.0, "min", "h").unwrap(), 1.5);
        assert_eq!(convert(1.0, "lb", "g").unwrap(), 453.59237);
    }

    #[test]
    fn errors() {
        let Err(ToolError::InvalidInput(m)) = convert(1.0, "km", "kg") else {
            panic!()
        };
        assert!(m.contains("length") && m.contains("mass"), "{m}");
        assert!(matches!(
            convert(1.0, "parsec", "m"),
            Err(ToolError::InvalidInput(_))
        ));
        assert!(matches!(
            convert(-500.0, "C", "K"),
            Err(ToolError::InvalidInput(_))
        ));
        assert!(matches!(
            convert(1e308, "PB", "b"),
            Err(ToolError::InvalidInput(_))
        ));
    }
}
