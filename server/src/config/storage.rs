//! Where stored files live (`WAVEKEEP_STORAGE`, `WAVEKEEP_S3_*`), flattened
//! into the command line. Unset S3 settings come from the standard `AWS_*`
//! variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`).

use clap::Args;
use secrecy::SecretString;

use app::settings::ObjectStoreSettings;

#[derive(Debug, Clone, Args)]
pub struct StorageConfig {
    /// Where stored audio and derived files live: `local` (the data
    /// directory) or `s3://bucket/prefix` (an S3-compatible bucket).
    #[arg(
        long = "storage",
        env = "WAVEKEEP_STORAGE",
        default_value = "local",
        value_parser = parse_storage,
        global = true
    )]
    pub storage: Storage,
    /// S3 endpoint of a store other than AWS (`http://127.0.0.1:8333`).
    #[arg(long = "s3-endpoint", env = "WAVEKEEP_S3_ENDPOINT", global = true)]
    pub endpoint: Option<String>,
    /// S3 region (`us-east-1` when neither this nor AWS_REGION is set).
    #[arg(long = "s3-region", env = "WAVEKEEP_S3_REGION", global = true)]
    pub region: Option<String>,
    #[arg(
        long = "s3-access-key-id",
        env = "WAVEKEEP_S3_ACCESS_KEY_ID",
        global = true
    )]
    pub access_key_id: Option<String>,
    /// Never logged.
    #[arg(
        long = "s3-secret-access-key",
        env = "WAVEKEEP_S3_SECRET_ACCESS_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_access_key: Option<SecretString>,
    /// Allow a plain-http endpoint.
    #[arg(long = "s3-allow-http", env = "WAVEKEEP_S3_ALLOW_HTTP", global = true)]
    pub allow_http: Option<bool>,
    /// Address the bucket as a host name (`bucket.endpoint`) instead of a
    /// path (`endpoint/bucket`, the default).
    #[arg(
        long = "s3-virtual-hosted",
        env = "WAVEKEEP_S3_VIRTUAL_HOSTED",
        global = true
    )]
    pub virtual_hosted: Option<bool>,
    /// How media links serve stored files: `proxy` (through wavekeep, with
    /// ranges) or `redirect` (to a short-lived presigned S3 URL, so the
    /// bytes bypass wavekeep).
    #[arg(
        long = "s3-media",
        env = "WAVEKEEP_S3_MEDIA",
        default_value = "proxy",
        value_parser = ["proxy", "redirect"],
        global = true
    )]
    pub media: String,
}

/// The chosen backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    Local,
    S3 { bucket: String, prefix: String },
}

fn parse_storage(s: &str) -> Result<Storage, String> {
    let s = s.trim();
    if s.is_empty() || s == "local" {
        return Ok(Storage::Local);
    }
    let (bucket, prefix) = ObjectStoreSettings::parse_url(s)?;
    Ok(Storage::S3 { bucket, prefix })
}

impl StorageConfig {
    /// The object store's settings; `None` for the local disk.
    pub fn settings(&self) -> Option<ObjectStoreSettings> {
        let Storage::S3 { bucket, prefix } = &self.storage else {
            return None;
        };
        Some(self.settings_for(bucket, prefix))
    }

    /// Settings for the bucket at `url` (`s3://bucket/prefix`), with this
    /// configuration's endpoint and credentials.
    pub fn settings_at(&self, url: &str) -> Result<ObjectStoreSettings, String> {
        let (bucket, prefix) = ObjectStoreSettings::parse_url(url.trim())?;
        Ok(self.settings_for(&bucket, &prefix))
    }

    fn settings_for(&self, bucket: &str, prefix: &str) -> ObjectStoreSettings {
        let nonempty = |o: &Option<String>| {
            o.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        ObjectStoreSettings {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint: nonempty(&self.endpoint),
            region: nonempty(&self.region),
            access_key_id: nonempty(&self.access_key_id),
            secret_access_key: self.secret_access_key.clone(),
            allow_http: self.allow_http,
            virtual_hosted: self.virtual_hosted,
            redirect: self.media == "redirect",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_key_never_shows() {
        let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
        let config = StorageConfig {
            storage: Storage::S3 {
                bucket: "audio".into(),
                prefix: "wk".into(),
            },
            endpoint: Some("http://127.0.0.1:8333".into()),
            region: None,
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some(secret.into()),
            allow_http: Some(true),
            virtual_hosted: None,
            media: "proxy".into(),
        };
        let settings = config.settings().expect("s3");
        let shown = format!("{config:?} {settings:?} {}", settings.location());
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("AKIDEXAMPLE") && shown.contains("s3://audio/wk"));
    }

    #[test]
    fn storage_addresses() {
        assert_eq!(parse_storage("local"), Ok(Storage::Local));
        assert_eq!(
            parse_storage("s3://my-bucket/wave/keep/"),
            Ok(Storage::S3 {
                bucket: "my-bucket".into(),
                prefix: "wave/keep".into()
            })
        );
        assert_eq!(
            parse_storage("s3://b.example"),
            Ok(Storage::S3 {
                bucket: "b.example".into(),
                prefix: String::new()
            })
        );
        for bad in [
            "/data",
            "s3://",
            "s3://UPPER",
            "s3://ok-bucket/../x",
            "s3://ok-bucket/a b",
            "http://x/y",
        ] {
            assert!(parse_storage(bad).is_err(), "{bad}");
        }
    }
}
