//! The few protobuf encodings the outputs need (proto3 wire format):
//! varints, length-delimited fields (strings, bytes, nested messages) and
//! 64-bit fixed values (doubles, fixed64 timestamps).

/// A message being written.
#[derive(Debug, Default)]
pub(crate) struct Message {
    buf: Vec<u8>,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

impl Message {
    pub(crate) fn new() -> Self {
        Message::default()
    }

    fn key(&mut self, field: u32, wire: u8) {
        varint(&mut self.buf, (u64::from(field) << 3) | u64::from(wire));
    }

    /// A `uint64`/`int64` field (left out when 0, as proto3 does).
    pub(crate) fn uint64(&mut self, field: u32, value: u64) -> &mut Self {
        if value != 0 {
            self.key(field, VARINT);
            varint(&mut self.buf, value);
        }
        self
    }

    /// An `int64` field (two's complement varint; left out when 0).
    pub(crate) fn int64(&mut self, field: u32, value: i64) -> &mut Self {
        self.uint64(field, value as u64)
    }

    /// A `sint32` field (zigzag varint; left out when 0).
    pub(crate) fn sint32(&mut self, field: u32, value: i32) -> &mut Self {
        self.uint64(field, u64::from(((value << 1) ^ (value >> 31)) as u32))
    }

    /// A packed `repeated uint64` field (left out when empty).
    pub(crate) fn packed_uint64(&mut self, field: u32, values: &[u64]) -> &mut Self {
        if !values.is_empty() {
            let mut packed = Vec::new();
            for v in values {
                varint(&mut packed, *v);
            }
            self.bytes(field, &packed);
        }
        self
    }

    /// A `bool` field (left out when false).
    pub(crate) fn boolean(&mut self, field: u32, value: bool) -> &mut Self {
        self.uint64(field, u64::from(value))
    }

    /// A `double` field, always written (0.0 is a value worth sending).
    pub(crate) fn double(&mut self, field: u32, value: f64) -> &mut Self {
        self.key(field, FIXED64);
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A `fixed64` field (left out when 0).
    pub(crate) fn fixed64(&mut self, field: u32, value: u64) -> &mut Self {
        if value != 0 {
            self.key(field, FIXED64);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
        self
    }

    /// A `string` or `bytes` field.
    pub(crate) fn bytes(&mut self, field: u32, value: &[u8]) -> &mut Self {
        self.key(field, LEN);
        varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(value);
        self
    }

    /// A `string` field.
    pub(crate) fn string(&mut self, field: u32, value: &str) -> &mut Self {
        self.bytes(field, value.as_bytes())
    }

    /// A nested message field.
    pub(crate) fn message(&mut self, field: u32, value: &Message) -> &mut Self {
        self.bytes(field, &value.buf)
    }

    /// The encoded bytes.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

fn varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_encode_as_the_wire_format_says() {
        let mut inner = Message::new();
        inner.string(1, "a");
        let mut m = Message::new();
        m.uint64(1, 150)
            .uint64(2, 0)
            .string(3, "hi")
            .message(4, &inner)
            .double(5, 1.0)
            .int64(6, -1)
            .fixed64(7, 1)
            .sint32(8, -2)
            .packed_uint64(9, &[1, 300]);
        let bytes = m.into_bytes();
        let mut expected = vec![
            0x08, 0x96, 0x01, 0x1a, 2, b'h', b'i', 0x22, 3, 0x0a, 1, b'a', 0x29,
        ];
        expected.extend_from_slice(&1.0f64.to_le_bytes());
        expected.extend_from_slice(&[
            0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        expected.push(0x39);
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(&[0x40, 3, 0x4a, 3, 1, 0xac, 0x02]);
        assert_eq!(bytes, expected);
    }
}
