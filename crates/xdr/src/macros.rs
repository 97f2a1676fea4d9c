//! Declarative macros that write the `Xdr` impl for the three shapes that
//! make up most of ONC RPC protocols: structs, C-like enums and bounded
//! opaque byte strings. They keep protocol crates to type definitions.

/// Defines a struct whose XDR form is its fields in order.
///
/// ```
/// nfsl_xdr::xdr_struct! {
///     /// A point.
///     pub struct Point { pub x: u32, pub y: u32 }
/// }
/// let p = Point { x: 1, y: 2 };
/// assert_eq!(nfsl_xdr::decode_exact::<Point>(&nfsl_xdr::encode_to_vec(&p)).unwrap(), p);
/// ```
#[macro_export]
macro_rules! xdr_struct {
    ($(#[$meta:meta])* $vis:vis struct $name:ident {
        $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        $vis struct $name { $($(#[$fmeta])* $fvis $field: $ty),* }

        impl $crate::Xdr for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                $( $crate::Xdr::encode(&self.$field, out); )*
                let _ = out;
            }
            fn decode(d: &mut $crate::Decoder<'_>) -> Result<Self, $crate::XdrError> {
                let _ = &d;
                Ok($name { $($field: <$ty as $crate::Xdr>::decode(d)?),* })
            }
        }
    };
}

/// Defines a C-like enum with explicit `u32` discriminants; unknown values
/// decode to [`XdrError::InvalidDiscriminant`](crate::XdrError).
///
/// ```
/// nfsl_xdr::xdr_enum! {
///     /// A colour.
///     pub enum Colour { Red = 1, Green = 2 }
/// }
/// assert!(nfsl_xdr::decode_exact::<Colour>(&[0, 0, 0, 3]).is_err());
/// ```
#[macro_export]
macro_rules! xdr_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $value:expr),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        $vis enum $name { $($(#[$vmeta])* $variant = $value),* }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The variant with this wire value, if any.
            pub fn from_u32(v: u32) -> Option<Self> {
                match v {
                    $(x if x == $value => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl $crate::Xdr for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                $crate::Encoder::put_u32(out, *self as u32);
            }
            fn decode(d: &mut $crate::Decoder<'_>) -> Result<Self, $crate::XdrError> {
                let v = d.u32()?;
                $name::from_u32(v).ok_or($crate::XdrError::InvalidDiscriminant {
                    value: v,
                    type_name: stringify!($name),
                })
            }
        }
    };
}

/// Defines a newtype over `Vec<u8>` encoded as variable-length opaque data
/// (or an XDR string, which has the same form) of at most `$max` bytes.
///
/// ```
/// nfsl_xdr::xdr_opaque! {
///     /// A short name.
///     pub struct Name(max = 8);
/// }
/// let n = Name(b"abc".to_vec());
/// assert_eq!(nfsl_xdr::encode_to_vec(&n), [0, 0, 0, 3, b'a', b'b', b'c', 0]);
/// assert!(nfsl_xdr::decode_exact::<Name>(&[0, 0, 0, 9]).is_err());
/// ```
#[macro_export]
macro_rules! xdr_opaque {
    ($(#[$meta:meta])* $vis:vis struct $name:ident(max = $max:expr);) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        $vis struct $name(pub Vec<u8>);

        impl $name {
            /// Largest length accepted on decode.
            #[allow(dead_code)]
            pub const MAX_LEN: usize = $max;
        }

        impl $crate::Xdr for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                $crate::Encoder::put_opaque(out, &self.0);
            }
            fn decode(d: &mut $crate::Decoder<'_>) -> Result<Self, $crate::XdrError> {
                Ok($name(d.opaque($max)?.to_vec()))
            }
        }

        impl From<&[u8]> for $name {
            fn from(b: &[u8]) -> Self {
                $name(b.to_vec())
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
    };
}
