//! The local directory registry end to end: push, list, resolve, lock,
//! cache, and every way a pull is refused.

use semver::Version;

use super::artifact::{Artifact, ComponentInfo, PluginKind, PluginManifest, sha256_hex};
use super::*;
use crate::plugin::artifacts;

struct Fixture {
    _dir: tempfile::TempDir,
    options: ResolveOptions,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = ResolveOptions {
        registry_dir: dir.path().join("registry"),
        cache_dir: dir.path().join("cache"),
        lock_file: dir.path().join("relhost.lock"),
        locked: false,
        ca_cert: None,
        policy: CapabilityPolicy::default(),
    };
    Fixture { _dir: dir, options }
}

fn artifact(wasm: &[u8], version: &str) -> Artifact {
    let manifest = PluginManifest {
        name: "whatsapp_webhook".into(),
        version: Version::parse(version).expect("version"),
        kind: PluginKind::Scenario,
        world: "relhost:plugin/scenario".into(),
        world_version: "0.1.0".into(),
        secrets: vec!["WHATSAPP_APP_SECRET".into()],
        data_files: Vec::new(),
        description: "test".into(),
    };
    let component = ComponentInfo {
        exports: vec!["describe".into()],
        imports: Vec::new(),
        target: "relhost:plugin/scenario@0.1.0".into(),
    };
    Artifact::build(
        wasm.to_vec(),
        Vec::new(),
        &manifest,
        component,
        "2026-01-01T00:00:00Z".into(),
    )
}

fn reference(text: &str) -> Reference {
    Reference::parse(text, true).expect("reference")
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn builtin(name: &str) -> &'static [u8] {
    artifacts::builtin(name).expect("builtin")
}

async fn publish(options: &ResolveOptions, text: &str, wasm: &[u8]) {
    let r = reference(text);
    let super::reference::Selector::Exact(v) = &r.selector else {
        panic!("exact version expected")
    };
    push(&r, &artifact(wasm, &v.to_string()), options, false)
        .await
        .expect("push");
}

#[test]
fn push_list_and_resolve_the_highest_matching_version() {
    let f = fixture();
    block_on(async {
        publish(&f.options, "ns/x:0.9.0", builtin("whatsapp_webhook")).await;
        publish(&f.options, "ns/x:0.10.0", builtin("gmail_push_webhook")).await;
        publish(&f.options, "ns/x:1.0.0", builtin("chat_stream_http")).await;
        let versions = list(&reference("ns/x"), &f.options).await.expect("list");
        let versions: Vec<String> = versions.iter().map(Version::to_string).collect();
        assert_eq!(versions, ["0.9.0", "0.10.0", "1.0.0"]);

        let resolved = resolve(&reference("local:ns/x@^0.9"), &f.options)
            .await
            .expect("resolve");
        assert_eq!(resolved.version, Version::new(0, 9, 0));
        let resolved = resolve(&reference("local:ns/x@>=0.9, <1"), &f.options)
            .await
            .expect("resolve");
        assert_eq!(resolved.version, Version::new(0, 10, 0));
        assert_eq!(resolved.sha256, sha256_hex(builtin("gmail_push_webhook")));
        assert_eq!(
            std::fs::read(&resolved.path).expect("cached"),
            builtin("gmail_push_webhook")
        );
        assert!(resolved.lock_updated && !resolved.from_cache);
        let lock = lock::LockFile::load(&f.options.lock_file).expect("lock");
        let entry = lock.find("local", "ns/x").expect("locked");
        assert_eq!(entry.requirement, ">=0.9, <1");
        assert_eq!(entry.version, Version::new(0, 10, 0));

        // The same requirement again: from the lock and the cache, no change.
        let again = resolve(&reference("local:ns/x@>=0.9, <1"), &f.options)
            .await
            .expect("again");
        assert!(again.from_cache && !again.lock_updated);

        // A file path stays a file path.
        let path = std::path::Path::new("./plugin.wasm");
        assert_eq!(
            resolve_plugin_ref(path, &f.options).await.expect("path"),
            path
        );
    });
}

#[test]
fn the_lock_pins_a_version_and_refuses_other_content() {
    let f = fixture();
    block_on(async {
        publish(&f.options, "ns/x:0.1.0", builtin("whatsapp_webhook")).await;
        let first = resolve(&reference("local:ns/x@^0.1"), &f.options)
            .await
            .expect("resolve");
        assert_eq!(first.version, Version::new(0, 1, 0));

        // A newer matching version does not move the lock.
        publish(&f.options, "ns/x:0.1.1", builtin("gmail_push_webhook")).await;
        let pinned = resolve(&reference("local:ns/x@^0.1"), &f.options)
            .await
            .expect("pinned");
        assert_eq!(pinned.version, Version::new(0, 1, 0));

        // --locked refuses a requirement the lock does not record.
        let locked = ResolveOptions {
            locked: true,
            ..f.options.clone()
        };
        let error = resolve(&reference("local:ns/x@^0.1.1"), &locked)
            .await
            .expect_err("lock would change");
        assert!(
            matches!(error, RegistryError::LockWouldChange { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("relhost.lock"), "{error}");

        // Other content under the locked tag, with a cold cache: refused.
        let mut replaced = artifact(builtin("chat_stream_http"), "0.1.0");
        replaced.wasm = builtin("chat_stream_http").to_vec();
        push(&reference("ns/x:0.1.0"), &replaced, &f.options, true)
            .await
            .expect("forced push");
        std::fs::remove_dir_all(&f.options.cache_dir).expect("clear cache");
        let error = resolve(&reference("local:ns/x@^0.1"), &locked)
            .await
            .expect_err("mismatch");
        assert!(
            matches!(error, RegistryError::LockMismatch { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("local:ns/x@^0.1"), "{error}");
        assert!(!error.is_unreachable());
    });
}

#[test]
fn refuses_tampered_blobs_unknown_versions_and_non_components() {
    let f = fixture();
    block_on(async {
        publish(&f.options, "ns/x:0.1.0", builtin("whatsapp_webhook")).await;
        // Republishing a version needs --force.
        let error = push(
            &reference("ns/x:0.1.0"),
            &artifact(builtin("whatsapp_webhook"), "0.1.0"),
            &f.options,
            false,
        )
        .await
        .expect_err("already published");
        assert!(
            matches!(error, RegistryError::AlreadyPublished { .. }),
            "{error}"
        );

        let error = resolve(&reference("local:ns/x:0.2.0"), &f.options)
            .await
            .expect_err("no 0.2.0");
        assert!(
            error.to_string().contains("no version satisfies =0.2.0"),
            "{error}"
        );
        assert!(error.to_string().contains("available: 0.1.0"), "{error}");
        let error = resolve(&reference("local:ns/nothing"), &f.options)
            .await
            .expect_err("no repository");
        assert!(
            matches!(error, RegistryError::UnknownRepository { .. }),
            "{error}"
        );

        // Flip bytes of the stored component: the digest no longer matches.
        let hex = sha256_hex(builtin("whatsapp_webhook"));
        let blob = f.options.registry_dir.join("blobs/sha256").join(&hex);
        let mut bytes = std::fs::read(&blob).expect("blob");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&blob, &bytes).expect("tamper");
        let error = resolve(&reference("local:ns/x@^0.1"), &f.options)
            .await
            .expect_err("tampered");
        assert!(matches!(error, RegistryError::Tampered { .. }), "{error}");
        assert!(error.to_string().contains("local:ns/x@^0.1"), "{error}");
        let cached: Vec<_> = std::fs::read_dir(f.options.cache_dir.join("sha256"))
            .map(|d| d.filter_map(Result::ok).collect())
            .unwrap_or_default();
        assert!(cached.is_empty(), "nothing cached: {cached:?}");
        assert!(!f.options.lock_file.exists(), "nothing locked");

        // A core module is not a component.
        let core_module = b"\0asm\x01\x00\x00\x00";
        publish(&f.options, "ns/core:1.0.0", core_module).await;
        let error = resolve(&reference("local:ns/core"), &f.options)
            .await
            .expect_err("not a component");
        assert!(
            matches!(error, RegistryError::NotComponent { .. }),
            "{error}"
        );
    });
}

#[test]
fn a_policy_refuses_forbidden_secrets() {
    let policy = CapabilityPolicy {
        forbidden_secrets: vec!["WHATSAPP_APP_SECRET".into()],
    };
    let error = policy
        .check("whatsapp_webhook", &["WHATSAPP_APP_SECRET".into()])
        .expect_err("forbidden");
    assert!(error.to_string().contains("WHATSAPP_APP_SECRET"));
    assert!(policy.check("gmail", &["OTHER".into()]).is_ok());
}
