//! Just enough of the ONNX protobuf to count a model's parameters: the element count of
//! every graph initializer. ONNX Runtime does not expose initializers, and pulling in a
//! full protobuf stack for one number is not worth it.

/// Reads one varint at `*pos`.
fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        value |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Iterates the fields of one message: `(field number, wire type, payload)`; for varints
/// the payload is empty and the value is returned in the second slot of `Field`.
struct Field<'a> {
    number: u64,
    varint: u64,
    bytes: &'a [u8],
}

fn fields(bytes: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let key = varint(bytes, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        let field = match wire {
            0 => Field {
                number,
                varint: varint(bytes, &mut pos)?,
                bytes: &[],
            },
            1 => {
                pos = pos.checked_add(8)?;
                Field {
                    number,
                    varint: 0,
                    bytes: &[],
                }
            }
            2 => {
                let len = varint(bytes, &mut pos)? as usize;
                let end = pos.checked_add(len).filter(|&e| e <= bytes.len())?;
                let f = Field {
                    number,
                    varint: 0,
                    bytes: &bytes[pos..end],
                };
                pos = end;
                f
            }
            5 => {
                pos = pos.checked_add(4)?;
                Field {
                    number,
                    varint: 0,
                    bytes: &[],
                }
            }
            _ => return None,
        };
        out.push(field);
    }
    (pos == bytes.len()).then_some(out)
}

/// Total element count of the main graph's initializers, or `None` if the bytes are not a
/// well-formed ONNX model.
pub fn initializer_elements(model: &[u8]) -> Option<u64> {
    // ModelProto.graph = 7; GraphProto.initializer = 5; TensorProto.dims = 1 (int64, packed
    // or not).
    let graph = fields(model)?.into_iter().find(|f| f.number == 7)?;
    let mut total = 0u64;
    for init in fields(graph.bytes)?.into_iter().filter(|f| f.number == 5) {
        let mut count = 1u64;
        for dim in fields(init.bytes)?.into_iter().filter(|f| f.number == 1) {
            if dim.bytes.is_empty() {
                count = count.saturating_mul(dim.varint);
            } else {
                let mut pos = 0;
                while pos < dim.bytes.len() {
                    count = count.saturating_mul(varint(dim.bytes, &mut pos)?);
                }
            }
        }
        total += count;
    }
    Some(total)
}
