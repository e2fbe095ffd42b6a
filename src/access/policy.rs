//! The access policy: who the administrators are, which identities belong to which groups, which user names
//! and password hashes a Credential may carry, and standing rules ("group `mongodb` may create in Object Group
//! `mongodb` and use what is in it"). Read from a TOML file; the embedded default makes the bootstrap `admin`
//! certificate an administrator and every other authenticated identity a user of its own objects.
//!
//! A decision needs the object's facts (owner, groups) and the grants that may apply; the engine gathers them
//! and asks [`Policy::decide`]. An object the principal has no right on at all answers [`Decision::Hidden`],
//! so the engine can answer as if it did not exist.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::Caller;
use super::grants::{Grant, Target};
use super::identity::PasswordCredential;

/// The identity of the embedded default's administrator: the subject CN of the client certificate the
/// development bootstrap makes for the operator, and the one administrator of the embedded policy.
pub const ADMIN_NAME: &str = "admin";

/// A class of operations granted together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpClass {
    /// Create, Register, Create Key Pair, Import, ... (in rules: in the rule's Object Group).
    Create,
    /// Get, Get Attributes, Get Attribute List, Check, Export.
    Get,
    /// Cryptographic use: Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC Verify, Derive Key, leases.
    Use,
    /// Add, Modify, Delete, Set and Adjust Attribute.
    ManageAttributes,
    /// Activate, Revoke, Archive, Recover, Re-key, Certify.
    Lifecycle,
    /// Destroy.
    Destroy,
}

impl OpClass {
    /// Every class, for "all".
    pub const ALL: [OpClass; 6] = [
        OpClass::Create,
        OpClass::Get,
        OpClass::Use,
        OpClass::ManageAttributes,
        OpClass::Lifecycle,
        OpClass::Destroy,
    ];

    /// The classes that are rights on an existing object (all but Create): holding one of them on an object
    /// is what makes it visible.
    pub const ON_OBJECTS: [OpClass; 5] = [
        OpClass::Get,
        OpClass::Use,
        OpClass::ManageAttributes,
        OpClass::Lifecycle,
        OpClass::Destroy,
    ];

    /// Reads a class name as the command line and the policy file spell it.
    pub fn parse(text: &str) -> Option<OpClass> {
        match text.trim() {
            "create" => Some(OpClass::Create),
            "get" => Some(OpClass::Get),
            "use" => Some(OpClass::Use),
            "manage-attributes" => Some(OpClass::ManageAttributes),
            "lifecycle" => Some(OpClass::Lifecycle),
            "destroy" => Some(OpClass::Destroy),
            _ => None,
        }
    }

    /// The name [`OpClass::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            OpClass::Create => "create",
            OpClass::Get => "get",
            OpClass::Use => "use",
            OpClass::ManageAttributes => "manage-attributes",
            OpClass::Lifecycle => "lifecycle",
            OpClass::Destroy => "destroy",
        }
    }
}

/// What an operation needs from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Open to any authenticated client (Discover Versions, Query).
    Open,
    /// Any known identity (Locate, which filters what it returns; RNG Retrieve; Ping; Log).
    Known,
    /// The right to create objects.
    Create,
    /// The class on the object the operation names.
    Object(OpClass),
    /// Administrators only.
    Administrator,
}

/// Who a rule, a grant or an administrator entry names: one identity or a group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Subject {
    /// One identity.
    User(String),
    /// Every member of a group.
    Group(String),
}

impl Subject {
    /// Reads `group:NAME`, `user:NAME` or a bare identity.
    pub fn parse(text: &str) -> Subject {
        if let Some(g) = text.strip_prefix("group:") {
            Subject::Group(g.to_string())
        } else if let Some(u) = text.strip_prefix("user:") {
            Subject::User(u.to_string())
        } else {
            Subject::User(text.to_string())
        }
    }

    /// Whether `principal` is (or is a member of) this subject.
    pub fn covers(&self, principal: &Principal) -> bool {
        match self {
            Subject::User(u) => *u == principal.identity,
            Subject::Group(g) => principal.groups.iter().any(|m| m == g),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(u) => write!(f, "user:{u}"),
            Subject::Group(g) => write!(f, "group:{g}"),
        }
    }
}

/// The policy file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    administrators: Vec<String>,
    #[serde(default)]
    open_enrolment: bool,
    #[serde(default = "yes")]
    users_may_create: bool,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    credentials: Vec<CredentialEntry>,
    #[serde(default)]
    rules: Vec<RuleEntry>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialEntry {
    username: String,
    password_argon2: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    subjects: Vec<String>,
    #[serde(default)]
    object_group: Option<String>,
    operations: Vec<String>,
}

/// A standing rule: `subjects` may do `classes` on every object of `object_group` (every object when None).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Who the rule is for.
    pub subjects: Vec<Subject>,
    /// The Object Group it covers; None for every object.
    pub object_group: Option<String>,
    /// What it allows.
    pub classes: Vec<OpClass>,
}

/// Why a policy could not be loaded.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error("invalid policy file {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// The prefix that names a credential user (a Username and Password Credential's user name) in the policy and
/// as a principal: `credential:backup`. Certificate identities live outside it, so a certificate whose CN is
/// `backup` never gets the rules of the credential user `backup`, and a certificate whose identity itself
/// starts with the prefix is refused.
pub const CREDENTIAL_PREFIX: &str = "credential:";

/// Why a request's identity was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    /// The Credential names no known user or its password does not match.
    #[error("authentication failed for user {0:?}")]
    WrongCredential(String),
    /// A certificate identity inside the credential users' namespace.
    #[error(
        "certificate identity {0:?} is refused: names starting with \"credential:\" are reserved for credential users"
    )]
    ReservedIdentity(String),
    /// The Credential could not be read.
    #[error(transparent)]
    Credential(#[from] super::identity::CredentialError),
}

/// The loaded policy.
#[derive(Clone)]
pub struct Policy {
    administrators: Vec<Subject>,
    open_enrolment: bool,
    users_may_create: bool,
    users: Vec<String>,
    groups: BTreeMap<String, Vec<String>>,
    credentials: BTreeMap<String, String>,
    rules: Vec<Rule>,
    verified: VerifiedCredentials,
}

impl fmt::Debug for Policy {
    // Password hashes stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("administrators", &self.administrators)
            .field("open_enrolment", &self.open_enrolment)
            .field("users_may_create", &self.users_may_create)
            .field("users", &self.users)
            .field("groups", &self.groups)
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("rules", &self.rules)
            .finish()
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::embedded_default()
    }
}

/// The request's principal: who the policy judges, with the groups and standing it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The identity (certificate identity, or the Credential's user name when one was sent and verified).
    pub identity: String,
    /// The groups it belongs to.
    pub groups: Vec<String>,
    /// May do everything.
    pub administrator: bool,
    /// Named by the policy (or admitted by open enrolment); unknown identities get only Discover Versions and
    /// Query.
    pub known: bool,
}

/// What the engine knows about an object when it asks for a decision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectFacts {
    /// The Unique Identifier.
    pub uid: String,
    /// Who created it (None for objects from before access control).
    pub owner: Option<String>,
    /// Its Object Group values.
    pub groups: Vec<String>,
}

/// The answer for one operation on one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// The principal may see the object but not do this: Permission Denied.
    Deny,
    /// The principal has no right on the object at all: answer as if it did not exist.
    Hidden,
}

impl Policy {
    /// The embedded default: the bootstrap `admin` certificate is an administrator; every other authenticated
    /// identity is a user who may create objects and use its own.
    pub fn embedded_default() -> Policy {
        Policy {
            administrators: vec![Subject::User(ADMIN_NAME.to_string())],
            open_enrolment: true,
            users_may_create: true,
            users: Vec::new(),
            groups: BTreeMap::new(),
            credentials: BTreeMap::new(),
            rules: Vec::new(),
            verified: VerifiedCredentials::default(),
        }
    }

    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Policy::from_toml(&text).map_err(|reason| PolicyError::Invalid {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses policy TOML; every password hash must be a valid Argon2 PHC string.
    pub fn from_toml(text: &str) -> Result<Policy, String> {
        let mut file: PolicyFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut credentials = BTreeMap::new();
        for c in std::mem::take(&mut file.credentials) {
            let parsed = PasswordHash::new(&c.password_argon2)
                .map_err(|e| format!("credential {:?}: bad password hash: {e}", c.username))?;
            if !parsed.algorithm.as_str().starts_with("argon2") {
                return Err(format!(
                    "credential {:?}: the hash is not Argon2",
                    c.username
                ));
            }
            credentials.insert(c.username, c.password_argon2);
        }
        check_namespaces(&file, &credentials)?;
        let mut rules = Vec::with_capacity(file.rules.len());
        for r in file.rules {
            let mut classes = Vec::new();
            for op in &r.operations {
                if op == "all" {
                    classes.extend(OpClass::ALL);
                } else {
                    classes.push(
                        OpClass::parse(op)
                            .ok_or_else(|| format!("rule: unknown operation class {op:?}"))?,
                    );
                }
            }
            rules.push(Rule {
                subjects: r.subjects.iter().map(|s| Subject::parse(s)).collect(),
                object_group: r.object_group,
                classes,
            });
        }
        Ok(Policy {
            administrators: file
                .administrators
                .iter()
                .map(|s| Subject::parse(s))
                .collect(),
            open_enrolment: file.open_enrolment,
            users_may_create: file.users_may_create,
            users: file.users,
            groups: file.groups,
            credentials,
            rules,
            verified: VerifiedCredentials::default(),
        })
    }

    /// The principal of a request from `caller`, carrying `credential` (if any) in its header. A Credential
    /// must name a user of the policy with the right password; the principal is then that user.
    pub fn principal(
        &self,
        caller: &Caller,
        credential: Option<&PasswordCredential>,
    ) -> Result<Principal, AuthError> {
        let identity = match credential {
            None if caller.identity.starts_with(CREDENTIAL_PREFIX) => {
                return Err(AuthError::ReservedIdentity(caller.identity.clone()));
            }
            None => caller.identity.clone(),
            Some(c) => {
                self.check_password(caller, c)?;
                format!("{CREDENTIAL_PREFIX}{}", c.username)
            }
        };
        let groups: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, members)| members.contains(&identity))
            .map(|(g, _)| g.clone())
            .collect();
        let mut principal = Principal {
            identity,
            groups,
            administrator: false,
            known: false,
        };
        principal.administrator = self.administrators.iter().any(|s| s.covers(&principal));
        principal.known = principal.administrator
            || self.open_enrolment
            || !principal.groups.is_empty()
            || self.users.contains(&principal.identity)
            || principal
                .identity
                .strip_prefix(CREDENTIAL_PREFIX)
                .is_some_and(|user| self.credentials.contains_key(user))
            || self
                .rules
                .iter()
                .any(|r| r.subjects.iter().any(|s| s.covers(&principal)));
        Ok(principal)
    }

    /// Verifies a password against the user's Argon2 hash. A user name the policy does not list is refused at
    /// once, without hashing: the embedded default lists none, and hashing for a name nobody configured would
    /// let any client buy tens of milliseconds of server CPU per request. A successful check is remembered for
    /// the connection (its peer address and certificate), so a client that repeats its Credential with every
    /// request pays for Argon2 once.
    fn check_password(
        &self,
        caller: &Caller,
        credential: &PasswordCredential,
    ) -> Result<(), AuthError> {
        let wrong = || AuthError::WrongCredential(credential.username.clone());
        let (Some(hash), Some(password)) = (
            self.credentials.get(&credential.username),
            credential.password.as_ref(),
        ) else {
            return Err(wrong());
        };
        if self.verified.holds(caller, &credential.username, password) {
            return Ok(());
        }
        let parsed = PasswordHash::new(hash).map_err(|_| wrong())?;
        self.verified.hashed.fetch_add(1, Ordering::Relaxed);
        // `verify_password` compares the derived hash in constant time.
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .map_err(|_| wrong())?;
        self.verified
            .remember(caller, &credential.username, password);
        Ok(())
    }

    /// How many Argon2 password checks this policy has run (for the benchmark and the tests that show an
    /// unknown user costs none).
    pub fn password_hashes_run(&self) -> u64 {
        self.verified.hashed.load(Ordering::Relaxed)
    }

    /// Whether `principal` may create an object in the Object Groups `groups` (none named: empty).
    pub fn may_create(&self, principal: &Principal, groups: &[String]) -> bool {
        if principal.administrator {
            return true;
        }
        if !principal.known {
            return false;
        }
        if self.users_may_create {
            return true;
        }
        self.rules.iter().any(|r| {
            r.classes.contains(&OpClass::Create)
                && r.subjects.iter().any(|s| s.covers(principal))
                && match &r.object_group {
                    None => true,
                    Some(g) => !groups.is_empty() && groups.iter().all(|want| want == g),
                }
        })
    }

    /// Whether a decision for `principal` can turn on an object's Object Groups: some standing rule naming it
    /// or some grant it receives covers an Object Group. When not, the groups need not be read.
    pub fn depends_on_groups(&self, principal: &Principal, grants: &[Grant]) -> bool {
        if principal.administrator || !principal.known {
            return false;
        }
        self.rules
            .iter()
            .any(|r| r.object_group.is_some() && r.subjects.iter().any(|s| s.covers(principal)))
            || grants
                .iter()
                .any(|g| matches!(g.target, Target::ObjectGroup(_)) && g.subject.covers(principal))
    }

    /// Decides `class` on the object `facts` describes, given the grants stored for it or its groups.
    pub fn decide(
        &self,
        principal: &Principal,
        facts: &ObjectFacts,
        class: OpClass,
        grants: &[Grant],
    ) -> Decision {
        if principal.administrator {
            return Decision::Allow;
        }
        if !principal.known {
            return Decision::Hidden;
        }
        if facts.owner.as_deref() == Some(principal.identity.as_str()) {
            return Decision::Allow;
        }
        let from_rules = self
            .rules
            .iter()
            .filter(|r| r.subjects.iter().any(|s| s.covers(principal)))
            .filter(|r| match &r.object_group {
                None => true,
                Some(g) => facts.groups.contains(g),
            })
            .flat_map(|r| r.classes.iter().copied());
        let from_grants = grants
            .iter()
            .filter(|g| g.subject.covers(principal))
            .filter(|g| match &g.target {
                Target::Object(uid) => *uid == facts.uid,
                Target::ObjectGroup(group) => facts.groups.contains(group),
            })
            .flat_map(|g| g.classes.iter().copied());
        let mut any = false;
        for held in from_rules.chain(from_grants) {
            if held == class {
                return Decision::Allow;
            }
            // The right to create is no right on an existing object: it does not reveal one.
            any |= held != OpClass::Create;
        }
        if any {
            Decision::Deny
        } else {
            Decision::Hidden
        }
    }

    /// Whether `principal` may grant and revoke on the object `facts` describes (its owner, or an
    /// administrator); grants on a whole Object Group are for administrators.
    pub fn may_administer(&self, principal: &Principal, facts: Option<&ObjectFacts>) -> bool {
        principal.administrator
            || facts.is_some_and(|f| f.owner.as_deref() == Some(principal.identity.as_str()))
    }
}

/// Refuses a policy that names a credential user's bare name as a certificate identity (administrators, users,
/// group members, rule subjects). Before credential users had their own namespace, `backup` in a rule meant
/// both the credential user `backup` and any certificate named `backup`; such a file is ambiguous, and loading
/// it either way could hand a certificate the credential user's rights or silently drop them.
fn check_namespaces(
    file: &PolicyFile,
    credentials: &BTreeMap<String, String>,
) -> Result<(), String> {
    let named = file
        .administrators
        .iter()
        .chain(&file.users)
        .chain(file.rules.iter().flat_map(|r| &r.subjects))
        .filter_map(|s| match Subject::parse(s) {
            Subject::User(u) => Some(u),
            Subject::Group(_) => None,
        })
        .chain(file.groups.values().flatten().cloned());
    for name in named {
        if credentials.contains_key(&name) {
            return Err(format!(
                "{name:?} is both a credential user and a certificate identity in this policy; credential \
                 users have their own namespace now: write \"{CREDENTIAL_PREFIX}{name}\" where the credential \
                 user is meant (a certificate named {name:?} keeps only the rules naming {name:?})"
            ));
        }
    }
    Ok(())
}

/// Most verified credentials remembered at once (one per connection that sent one); when full, the memory is
/// cleared and connections pay for one more Argon2 check each.
pub const MAX_VERIFIED_CREDENTIALS: usize = 4096;

/// A connection as the policy sees it: its peer address and its certificate's fingerprint.
type ConnectionKey = (SocketAddr, [u8; 32]);

/// Credentials already verified, per connection: an HMAC (under a key made at start and never stored) of the
/// user name and password, keyed by the connection's peer address and certificate fingerprint. The password
/// itself is not kept.
#[derive(Clone)]
struct VerifiedCredentials {
    key: Arc<Option<aws_lc_rs::hmac::Key>>,
    seen: Arc<Mutex<HashMap<ConnectionKey, aws_lc_rs::hmac::Tag>>>,
    hashed: Arc<AtomicU64>,
}

impl Default for VerifiedCredentials {
    fn default() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        // Without randomness nothing is remembered: every check runs Argon2.
        let key = aws_lc_rs::hmac::Key::generate(aws_lc_rs::hmac::HMAC_SHA256, &rng).ok();
        VerifiedCredentials {
            key: Arc::new(key),
            seen: Arc::default(),
            hashed: Arc::default(),
        }
    }
}

impl VerifiedCredentials {
    fn tag(&self, username: &str, password: &str) -> Option<aws_lc_rs::hmac::Tag> {
        let key = self.key.as_ref().as_ref()?;
        let mut context = aws_lc_rs::hmac::Context::with_key(key);
        context.update(&(username.len() as u64).to_be_bytes());
        context.update(username.as_bytes());
        context.update(password.as_bytes());
        Some(context.sign())
    }

    fn holds(&self, caller: &Caller, username: &str, password: &str) -> bool {
        let Some(tag) = self.tag(username, password) else {
            return false;
        };
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(&(caller.peer, caller.certificate_sha256))
            .is_some_and(|known| subtle::ConstantTimeEq::ct_eq(known.as_ref(), tag.as_ref()).into())
    }

    fn remember(&self, caller: &Caller, username: &str, password: &str) {
        let Some(tag) = self.tag(username, password) else {
            return;
        };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_VERIFIED_CREDENTIALS {
            seen.clear();
        }
        seen.insert((caller.peer, caller.certificate_sha256), tag);
    }
}

/// Hashes a password for the policy file (Argon2id, default parameters, random salt).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt: [u8; 16] =
        crate::crypto::random_array().map_err(|e| format!("no randomness for the salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(name: &str) -> Caller {
        Caller {
            peer: "127.0.0.1:1".parse().unwrap(),
            identity: name.to_string(),
            certificate_sha256: [0; 32],
            in_process: false,
        }
    }

    fn strict() -> Policy {
        Policy::from_toml(
            r#"
            administrators = ["root", "group:security"]
            users_may_create = false
            users = ["alice", "bob"]
            [groups]
            security = ["sec-1"]
            mongodb = ["mongo-1", "mongo-2"]
            [[rules]]
            subjects = ["group:mongodb"]
            object_group = "mongodb"
            operations = ["create", "get", "use"]
            "#,
        )
        .unwrap()
    }

    fn facts(owner: &str, groups: &[&str]) -> ObjectFacts {
        ObjectFacts {
            uid: "k1".into(),
            owner: Some(owner.into()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn owners_and_administrators_may_everything_others_see_nothing() {
        let p = strict();
        let alice = p.principal(&caller("alice"), None).unwrap();
        let bob = p.principal(&caller("bob"), None).unwrap();
        let sec = p.principal(&caller("sec-1"), None).unwrap();
        let stranger = p.principal(&caller("eve"), None).unwrap();
        assert!(sec.administrator && !alice.administrator);
        assert!(!stranger.known);
        let f = facts("alice", &[]);
        for class in OpClass::ALL {
            assert_eq!(p.decide(&alice, &f, class, &[]), Decision::Allow);
            assert_eq!(p.decide(&sec, &f, class, &[]), Decision::Allow);
            assert_eq!(p.decide(&bob, &f, class, &[]), Decision::Hidden);
            assert_eq!(p.decide(&stranger, &f, class, &[]), Decision::Hidden);
        }
    }

    #[test]
    fn grants_allow_their_classes_and_reveal_the_object() {
        let p = strict();
        let bob = p.principal(&caller("bob"), None).unwrap();
        let f = facts("alice", &["payroll"]);
        let grant = Grant {
            id: "g".into(),
            subject: Subject::User("bob".into()),
            target: Target::Object("k1".into()),
            classes: vec![OpClass::Use],
            granted_by: "alice".into(),
        };
        assert_eq!(
            p.decide(&bob, &f, OpClass::Use, std::slice::from_ref(&grant)),
            Decision::Allow
        );
        assert_eq!(
            p.decide(&bob, &f, OpClass::Destroy, &[grant]),
            Decision::Deny
        );
        let by_group = Grant {
            id: "h".into(),
            subject: Subject::User("bob".into()),
            target: Target::ObjectGroup("payroll".into()),
            classes: vec![OpClass::Get],
            granted_by: "root".into(),
        };
        assert_eq!(
            p.decide(&bob, &f, OpClass::Get, &[by_group]),
            Decision::Allow
        );
    }

    #[test]
    fn group_rules_apply_within_their_object_group() {
        let p = strict();
        let mongo = p.principal(&caller("mongo-2"), None).unwrap();
        assert_eq!(mongo.groups, vec!["mongodb".to_string()]);
        assert!(p.may_create(&mongo, &["mongodb".into()]));
        assert!(!p.may_create(&mongo, &[]));
        assert!(!p.may_create(&mongo, &["other".into()]));
        let alice = p.principal(&caller("alice"), None).unwrap();
        assert!(!p.may_create(&alice, &[]));
        let f = facts("mongo-1", &["mongodb"]);
        assert_eq!(p.decide(&mongo, &f, OpClass::Use, &[]), Decision::Allow);
        assert_eq!(p.decide(&mongo, &f, OpClass::Destroy, &[]), Decision::Deny);
        assert_eq!(
            p.decide(&mongo, &facts("alice", &[]), OpClass::Get, &[]),
            Decision::Hidden
        );
    }

    #[test]
    fn credentials_need_the_right_password() {
        let hash = hash_password("correct horse").unwrap();
        let p = Policy::from_toml(&format!(
            "[[credentials]]\nusername = \"backup\"\npassword_argon2 = \"{hash}\"\n"
        ))
        .unwrap();
        let cred = |u: &str, pw: Option<&str>| PasswordCredential {
            username: u.into(),
            password: pw.map(|p| zeroize::Zeroizing::new(p.to_string())),
        };
        let ok = p
            .principal(
                &caller("cert-cn"),
                Some(&cred("backup", Some("correct horse"))),
            )
            .unwrap();
        assert_eq!(ok.identity, "credential:backup");
        assert!(ok.known);
        assert_eq!(p.password_hashes_run(), 1);
        for bad in [
            cred("backup", Some("wrong")),
            cred("backup", None),
            cred("nobody", Some("correct horse")),
        ] {
            assert!(matches!(
                p.principal(&caller("cert-cn"), Some(&bad)),
                Err(AuthError::WrongCredential(_))
            ));
        }
    }

    #[test]
    fn unknown_users_cost_no_hashing_and_a_verified_credential_is_remembered_per_connection() {
        let hash = hash_password("pw").unwrap();
        let p = Policy::from_toml(&format!(
            "[[credentials]]\nusername = \"backup\"\npassword_argon2 = \"{hash}\"\n"
        ))
        .unwrap();
        let cred = |u: &str, pw: &str| PasswordCredential {
            username: u.into(),
            password: Some(zeroize::Zeroizing::new(pw.to_string())),
        };
        for _ in 0..5 {
            assert!(
                p.principal(&caller("c"), Some(&cred("nobody", "pw")))
                    .is_err()
            );
        }
        assert_eq!(p.password_hashes_run(), 0);
        for _ in 0..5 {
            p.principal(&caller("c"), Some(&cred("backup", "pw")))
                .unwrap();
        }
        assert_eq!(p.password_hashes_run(), 1);
        // The remembered check does not accept another password, and each wrong one is hashed.
        assert!(
            p.principal(&caller("c"), Some(&cred("backup", "px")))
                .is_err()
        );
        assert_eq!(p.password_hashes_run(), 2);
        // Another connection (peer address) pays for its own check.
        let mut other = caller("c");
        other.peer = "127.0.0.1:2".parse().unwrap();
        p.principal(&other, Some(&cred("backup", "pw"))).unwrap();
        assert_eq!(p.password_hashes_run(), 3);
    }

    #[test]
    fn certificate_identities_and_credential_users_cannot_collide() {
        let hash = hash_password("pw").unwrap();
        let credentials =
            format!("[[credentials]]\nusername = \"backup\"\npassword_argon2 = \"{hash}\"\n");
        // A file from before the namespaces, naming the credential user bare, is refused with the fix.
        for bare in [
            "administrators = [\"backup\"]\n",
            "users = [\"backup\"]\n",
            "[groups]\nops = [\"backup\"]\n",
            "[[rules]]\nsubjects = [\"user:backup\"]\noperations = [\"get\"]\n",
        ] {
            let error = Policy::from_toml(&format!("{bare}{credentials}")).unwrap_err();
            assert!(error.contains("\"credential:backup\""), "{error}");
        }
        let p = Policy::from_toml(&format!(
            "open_enrolment = false\n[groups]\nreaders = [\"credential:backup\"]\n{credentials}\
             [[rules]]\nsubjects = [\"credential:backup\"]\noperations = [\"destroy\"]\n"
        ))
        .unwrap();
        let user = PasswordCredential {
            username: "backup".into(),
            password: Some(zeroize::Zeroizing::new("pw".into())),
        };
        let by_credential = p.principal(&caller("tape"), Some(&user)).unwrap();
        assert_eq!(by_credential.groups, vec!["readers".to_string()]);
        assert!(by_credential.known);
        let f = facts("someone", &[]);
        assert_eq!(
            p.decide(&by_credential, &f, OpClass::Destroy, &[]),
            Decision::Allow
        );
        // A certificate named like the credential user gets none of its rights.
        let by_certificate = p.principal(&caller("backup"), None).unwrap();
        assert!(!by_certificate.known && by_certificate.groups.is_empty());
        assert_eq!(
            p.decide(&by_certificate, &f, OpClass::Destroy, &[]),
            Decision::Hidden
        );
        // A certificate identity inside the credential namespace is refused outright.
        assert_eq!(
            p.principal(&caller("credential:backup"), None),
            Err(AuthError::ReservedIdentity("credential:backup".into()))
        );
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(Policy::from_toml("administrator = [\"x\"]").is_err());
        assert!(
            Policy::from_toml("[[rules]]\nsubjects = [\"a\"]\noperations = [\"fly\"]").is_err()
        );
        assert!(
            Policy::from_toml("[[credentials]]\nusername = \"a\"\npassword_argon2 = \"plaintext\"")
                .is_err()
        );
    }

    #[test]
    fn the_embedded_default_admits_every_identity_and_the_admin() {
        let p = Policy::embedded_default();
        let admin = p.principal(&caller(ADMIN_NAME), None).unwrap();
        assert!(admin.administrator);
        let other = p.principal(&caller("conformance"), None).unwrap();
        assert!(other.known && !other.administrator);
        assert!(p.may_create(&other, &[]));
    }

    #[test]
    fn the_example_policy_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("kmipd.policy.example.toml");
        let p = Policy::load(&path).unwrap();
        let mongo = p.principal(&caller("mongo-3"), None).unwrap();
        assert!(p.may_create(&mongo, &["mongodb".into()]));
        assert!(p.principal(&caller("alice"), None).unwrap().administrator);
        assert!(!p.principal(&caller("eve"), None).unwrap().known);
    }
}
