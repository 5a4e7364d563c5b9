//! A certificate's facts as openssl prints them: subject and issuer as RFC 4514 strings
//! (openssl's `-nameopt RFC2253`), SANs as `DNS:...`/`IP Address:...` sorted, validity in UTC,
//! SHA-256 fingerprint in lowercase hex, key type and size, signature algorithm.

use sha2::{Digest, Sha256};
use x509_parser::der_parser::asn1_rs::{Tag, ToDer};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::AttributeTypeAndValue;

use crate::follow::escape::escape_text;

/// One certificate's facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertInfo {
    /// Subject, RFC 4514 (most significant RDN last, as openssl -nameopt RFC2253 prints it).
    pub subject: String,
    /// Issuer, same form.
    pub issuer: String,
    /// Subject alternative names as openssl prints them (`DNS:x`, `IP Address:x`), sorted.
    pub sans: Vec<String>,
    /// Start of validity, `YYYY-MM-DDTHH:MM:SSZ`.
    pub not_before: String,
    /// End of validity, same form.
    pub not_after: String,
    /// End of validity as a Unix time, for metrics and policies.
    pub not_after_unix: i64,
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
    /// Key type as nmap's ssl-cert names it: rsa, ec, dsa, ed25519, ed448 or the algorithm OID.
    pub key_type: String,
    /// Key size in bits (0 when unknown).
    pub key_bits: u32,
    /// Signature algorithm as openssl names it (sha256WithRSAEncryption, ecdsa-with-SHA256...).
    pub signature_algorithm: String,
    /// nmap's ssl-cert script output for it (what -oN and -oX show; -oJ has the fields).
    #[serde(skip)]
    pub ssl_cert: String,
}

/// Why a certificate could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertError(pub String);

/// Reads a DER certificate.
pub fn parse(der: &[u8]) -> Result<CertInfo, CertError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| CertError(format!("bad certificate: {e}")))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            sans.push(san(name));
        }
    }
    sans.sort();
    let not_after_unix = cert.validity().not_after.timestamp();
    let (key_type, key_bits) = key(&cert);
    let signature_algorithm = oid_name(&cert.signature_algorithm.algorithm.to_id_string());
    let ssl_cert = nmap_ssl_cert(&cert, der, (&key_type, key_bits), &signature_algorithm);
    Ok(CertInfo {
        subject: rfc4514(cert.subject()),
        issuer: rfc4514(cert.issuer()),
        sans,
        not_before: utc(cert.validity().not_before.timestamp()),
        not_after: utc(not_after_unix),
        not_after_unix,
        sha256: hex(&Sha256::digest(der)),
        key_type,
        key_bits,
        signature_algorithm,
        ssl_cert,
    })
}

fn san(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(s) => format!("DNS:{}", escape_text(s.as_bytes())),
        GeneralName::RFC822Name(s) => format!("email:{}", escape_text(s.as_bytes())),
        GeneralName::URI(s) => format!("URI:{}", escape_text(s.as_bytes())),
        GeneralName::IPAddress(b) => match b.len() {
            4 => format!("IP Address:{}.{}.{}.{}", b[0], b[1], b[2], b[3]),
            16 => {
                let groups: Vec<String> = b
                    .chunks(2)
                    .map(|g| format!("{:X}", u16::from_be_bytes([g[0], g[1]])))
                    .collect();
                format!("IP Address:{}", groups.join(":"))
            }
            _ => "IP Address:<invalid>".to_string(),
        },
        GeneralName::DirectoryName(n) => format!("DirName:{}", rfc4514(n)),
        GeneralName::RegisteredID(oid) => format!("Registered ID:{}", oid.to_id_string()),
        GeneralName::OtherName(..) => "othername:<unsupported>".to_string(),
        GeneralName::X400Address(_) => "X400Name:<unsupported>".to_string(),
        GeneralName::EDIPartyName(_) => "EdiPartyName:<unsupported>".to_string(),
    }
}

/// A name as RFC 4514 writes it: RDNs last to first, `,` between, `+` inside one RDN.
pub fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| rdn.iter().map(attribute).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn attribute(attr: &AttributeTypeAndValue<'_>) -> String {
    let oid = attr.attr_type().to_id_string();
    let key = short_name(&oid);
    let value = attr.attr_value();
    let text = attribute_text(attr);
    // An unnamed attribute type, or a value that is no string, is written as `#` and its DER
    // in hex (openssl's dump_unknown and dump_nostr).
    match (key, text) {
        (Some(k), Some(t)) => format!("{k}={}", escape_value(&t)),
        (k, _) => {
            let der = value.to_der_vec().unwrap_or_else(|_| value.data.to_vec());
            format!("{}=#{}", k.map_or(oid.clone(), str::to_string), hex(&der))
        }
    }
}

/// An attribute's value as text (UTF-8 bytes), None when it is no string type.
fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> Option<Vec<u8>> {
    let value = attr.attr_value();
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => Some(value.data.to_vec()),
        // T61String as Latin-1, as openssl reads it.
        Tag::T61String => Some(
            value
                .data
                .iter()
                .map(|&b| b as char)
                .collect::<String>()
                .into_bytes(),
        ),
        Tag::BmpString => {
            let units: Vec<u16> = value
                .data
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            Some(String::from_utf16_lossy(&units).into_bytes())
        }
        Tag::UniversalString => Some(
            value
                .data
                .chunks(4)
                .filter_map(|c| {
                    let v = u32::from_be_bytes([c[0], *c.get(1)?, *c.get(2)?, *c.get(3)?]);
                    char::from_u32(v)
                })
                .collect::<String>()
                .into_bytes(),
        ),
        _ => None,
    }
}

/// The name fields nmap's ssl-cert shows at its default verbosity, in its order.
const NMAP_NAME_FIELDS: [(&str, &str); 4] = [
    ("2.5.4.3", "commonName"),
    ("2.5.4.10", "organizationName"),
    ("2.5.4.8", "stateOrProvinceName"),
    ("2.5.4.6", "countryName"),
];

/// A name as nmap's ssl-cert writes it: `commonName=x/organizationName=y/countryName=z`
/// (only those fields and stateOrProvinceName, in that order; the last value of a field
/// repeated, as its Lua table keeps it), values escaped.
fn nmap_name(name: &X509Name<'_>) -> String {
    let mut fields = Vec::new();
    for (oid, key) in NMAP_NAME_FIELDS {
        let value = name
            .iter_attributes()
            .filter(|a| a.attr_type().to_id_string() == oid)
            .filter_map(attribute_text)
            .last();
        if let Some(v) = value {
            fields.push(format!("{key}={}", escape_text(&v)));
        }
    }
    fields.join("/")
}

/// nmap 7.93's ssl-cert script output for a certificate (its default verbosity): subject,
/// the SANs in the certificate's order, issuer, key, signature algorithm, validity in UTC
/// without a zone, MD5 and SHA-1 of the DER.
fn nmap_ssl_cert(cert: &X509Certificate<'_>, der: &[u8], key: (&str, u32), sig: &str) -> String {
    let mut lines = vec![format!("Subject: {}", nmap_name(cert.subject()))];
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        let sans: Vec<String> = ext.value.general_names.iter().map(san).collect();
        lines.push(format!("Subject Alternative Name: {}", sans.join(", ")));
    }
    lines.push(format!("Issuer: {}", nmap_name(cert.issuer())));
    lines.push(format!("Public Key type: {}", key.0));
    lines.push(format!("Public Key bits: {}", key.1));
    lines.push(format!("Signature Algorithm: {sig}"));
    let date = |t: i64| utc(t).trim_end_matches('Z').to_string();
    lines.push(format!(
        "Not valid before: {}",
        date(cert.validity().not_before.timestamp())
    ));
    lines.push(format!(
        "Not valid after:  {}",
        date(cert.validity().not_after.timestamp())
    ));
    lines.push(format!("MD5:   {}", hex(&md5::Md5::digest(der))));
    lines.push(format!("SHA-1: {}", hex(&sha1::Sha1::digest(der))));
    lines.join("\n")
}

/// RFC 4514 escaping as openssl's esc_2253 + esc_ctrl + esc_msb do it.
fn escape_value(v: &[u8]) -> String {
    let mut out = String::new();
    for (i, &b) in v.iter().enumerate() {
        let first = i == 0;
        let last = i + 1 == v.len();
        match b {
            b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' => {
                out.push('\\');
                out.push(b as char);
            }
            b'#' if first => out.push_str("\\#"),
            b' ' if first || last => out.push_str("\\ "),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:02X}")),
        }
    }
    out
}

/// openssl's short names for the attribute types certificates use.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.13" => "description",
        "2.5.4.15" => "businessCategory",
        "2.5.4.17" => "postalCode",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "2.5.4.97" => "organizationIdentifier",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "1.3.6.1.4.1.311.60.2.1.1" => "jurisdictionL",
        "1.3.6.1.4.1.311.60.2.1.2" => "jurisdictionST",
        "1.3.6.1.4.1.311.60.2.1.3" => "jurisdictionC",
        _ => return None,
    })
}

/// openssl's names for signature and key algorithm OIDs (the OID itself when unknown).
fn oid_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.1" => "rsaEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.10040.4.3" => "dsaWithSHA1",
        "2.16.840.1.101.3.4.3.2" => "dsa_with_SHA256",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        other => return other.to_string(),
    }
    .to_string()
}

fn key(cert: &X509Certificate<'_>) -> (String, u32) {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => bit_length(rsa.modulus),
                _ => 0,
            };
            ("rsa".into(), bits)
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let bits = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => 256,
                Some("1.3.132.0.34") => 384,
                Some("1.3.132.0.35") => 521,
                Some("1.3.132.0.10") => 256,
                Some("1.2.840.10045.3.1.1") => 192,
                Some("1.3.132.0.33") => 224,
                _ => spki.parsed().map(|k| k.key_size() as u32).unwrap_or(0),
            };
            ("ec".into(), bits)
        }
        "1.2.840.10040.4.1" => (
            "dsa".into(),
            spki.parsed().map(|k| k.key_size() as u32).unwrap_or(0),
        ),
        "1.3.101.112" => ("ed25519".into(), 256),
        "1.3.101.113" => ("ed448".into(), 456),
        other => (other.to_string(), 0),
    }
}

/// Bits of a big-endian unsigned integer (leading zero bytes ignored).
fn bit_length(v: &[u8]) -> u32 {
    let v = &v[v.iter().position(|&b| b != 0).unwrap_or(v.len())..];
    match v.first() {
        None => 0,
        Some(&top) => (v.len() as u32 - 1) * 8 + (8 - top.leading_zeros()),
    }
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A Unix time as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = crate::model::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_725_845), "2026-12-08T10:30:45Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(utc(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn rfc4514_escapes() {
        assert_eq!(escape_value(b"a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_value(b"#x "), "\\#x\\ ");
        assert_eq!(escape_value(b" \x1b\xc3\xa9"), "\\ \\1B\\C3\\A9");
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[]), 0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"").is_err());
        assert!(parse(&[0x30, 0x82, 0xff, 0xff, 1, 2, 3]).is_err());
    }
}
