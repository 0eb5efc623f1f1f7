//! A minimal protobuf wire-format reader (varints, length-delimited fields, fixed32/64): enough
//! to read a SentencePiece `ModelProto` without a protobuf crate.

use super::*;

/// A minimal protobuf wire-format reader over one message.
pub(super) struct ProtoReader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` within the whole file, for error messages.
    base: usize,
    file: &'a Path,
}

/// One field value as it appears on the wire.
pub(super) enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8], usize),
    Fixed32(u32),
}

impl<'a> ProtoReader<'a> {
    pub(super) fn new(buf: &'a [u8], base: usize, file: &'a Path) -> Self {
        ProtoReader {
            buf,
            pos: 0,
            base,
            file,
        }
    }

    pub(super) fn truncated(&self, what: &str) -> SpmError {
        SpmError::Truncated {
            file: self.file.to_path_buf(),
            offset: self.base + self.pos,
            what: what.into(),
        }
    }

    pub(super) fn malformed(&self, offset: usize, what: impl Into<String>) -> SpmError {
        SpmError::Malformed {
            file: self.file.to_path_buf(),
            offset,
            what: what.into(),
        }
    }

    pub(super) fn varint(&mut self, what: &str) -> Result<u64, SpmError> {
        let start = self.base + self.pos;
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.truncated(what));
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed(start, format!("varint longer than 10 bytes in {what}")))
    }

    pub(super) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], SpmError> {
        if self.buf.len() - self.pos < n {
            return Err(self.truncated(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next field as (field number, value); `None` at the end of the message.
    pub(super) fn next_field(&mut self) -> Result<Option<(u64, Wire<'a>)>, SpmError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key_at = self.base + self.pos;
        let key = self.varint("field key")?;
        let field = key >> 3;
        if field == 0 {
            return Err(self.malformed(key_at, "field number 0"));
        }
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint(&format!("varint field {field}"))?),
            1 => {
                self.take(8, &format!("fixed64 field {field}"))?;
                Wire::Fixed64
            }
            2 => {
                let len = self.varint(&format!("length of field {field}"))?;
                let len = usize::try_from(len).map_err(|_| self.truncated("length"))?;
                let at = self.base + self.pos;
                Wire::Bytes(self.take(len, &format!("{len} bytes of field {field}"))?, at)
            }
            5 => {
                let b = self.take(4, &format!("fixed32 field {field}"))?;
                Wire::Fixed32(u32::from_le_bytes(b.try_into().expect("4 bytes")))
            }
            t => return Err(self.malformed(key_at, format!("unsupported wire type {t} for field {field}"))),
        };
        Ok(Some((field, wire)))
    }
}

impl Wire<'_> {
    pub(super) fn as_varint(&self, r: &ProtoReader<'_>, name: &str) -> Result<u64, SpmError> {
        match self {
            Wire::Varint(v) => Ok(*v),
            _ => Err(r.malformed(r.base + r.pos, format!("{name} is not a varint"))),
        }
    }
    pub(super) fn as_bool(&self, r: &ProtoReader<'_>, name: &str) -> Result<bool, SpmError> {
        Ok(self.as_varint(r, name)? != 0)
    }
    pub(super) fn as_i32(&self, r: &ProtoReader<'_>, name: &str) -> Result<i64, SpmError> {
        // int32 / enum: negative numbers are sign-extended to 64 bits on the wire.
        Ok(i64::from(self.as_varint(r, name)? as i32))
    }
    pub(super) fn as_f32(&self, r: &ProtoReader<'_>, name: &str) -> Result<f32, SpmError> {
        match self {
            Wire::Fixed32(v) => Ok(f32::from_bits(*v)),
            _ => Err(r.malformed(r.base + r.pos, format!("{name} is not a fixed32 float"))),
        }
    }
    pub(super) fn as_bytes(&self, r: &ProtoReader<'_>, name: &str) -> Result<(&[u8], usize), SpmError> {
        match self {
            Wire::Bytes(b, at) => Ok((b, *at)),
            _ => Err(r.malformed(r.base + r.pos, format!("{name} is not length-delimited"))),
        }
    }
    pub(super) fn as_string(&self, r: &ProtoReader<'_>, name: &str) -> Result<String, SpmError> {
        let (b, at) = self.as_bytes(r, name)?;
        String::from_utf8(b.to_vec()).map_err(|_| r.malformed(at, format!("{name} is not valid UTF-8")))
    }
}

// ---------------------------------------------------------------------------------------------
// Public model description
