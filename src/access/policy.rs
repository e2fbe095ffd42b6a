//! The access policy: who the administrators are, which identities belong to which groups, which user names
//! and password hashes a Credential may carry, and standing rules ("group `mongodb` may create in Object Group
//! `mongodb` and use what is in it"). Read from a TOML file; the embedded default makes the bootstrap `admin`
//! certificate an administrator and every other authenticated identity a user of its own objects.
//!
//! A decision needs the object's facts (owner, groups) and the grants that may apply; the engine gathers them
//! and asks [`Policy::decide`]. An object the principal has no right on at all answers [`Decision::Hidden`],
//! so the engine can answer as if it did not exist.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::kmip::Operation;
use crate::server::bootstrap::ADMIN_NAME;

use super::Caller;
use super::grants::{Grant, Target};
use super::identity::PasswordCredential;

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

/// What operation `op` needs.
pub fn need_of(op: Operation) -> Need {
    use OpClass::*;
    if super::client::ACCESS_OPERATIONS.contains(&op) {
        // Grant management checks ownership of each target itself.
        return Need::Known;
    }
    match op {
        Operation::DISCOVER_VERSIONS | Operation::QUERY => Need::Open,
        Operation::LOCATE
        | Operation::RNG_RETRIEVE
        | Operation::PING
        | Operation::LOG
        | Operation::HASH
        | Operation::CANCEL
        | Operation::POLL
        // Answered only by a server configured for interoperability tests, whose clients are the testers.
        | Operation::INTEROP => Need::Known,
        Operation::CREATE
        | Operation::CREATE_KEY_PAIR
        | Operation::REGISTER
        | Operation::CREATE_SPLIT_KEY
        | Operation::JOIN_SPLIT_KEY
        | Operation::IMPORT => Need::Create,
        Operation::GET
        | Operation::GET_ATTRIBUTES
        | Operation::GET_ATTRIBUTE_LIST
        | Operation::CHECK
        | Operation::EXPORT
        | Operation::VALIDATE => Need::Object(Get),
        Operation::ENCRYPT
        | Operation::DECRYPT
        | Operation::SIGN
        | Operation::SIGNATURE_VERIFY
        | Operation::MAC
        | Operation::MAC_VERIFY
        | Operation::DERIVE_KEY
        | Operation::OBTAIN_LEASE
        | Operation::GET_USAGE_ALLOCATION => Need::Object(Use),
        Operation::ADD_ATTRIBUTE
        | Operation::MODIFY_ATTRIBUTE
        | Operation::DELETE_ATTRIBUTE
        | Operation::SET_ATTRIBUTE
        | Operation::ADJUST_ATTRIBUTE => Need::Object(ManageAttributes),
        Operation::ACTIVATE
        | Operation::REVOKE
        | Operation::ARCHIVE
        | Operation::RECOVER
        | Operation::REKEY
        | Operation::REKEY_KEY_PAIR
        | Operation::CERTIFY
        | Operation::RECERTIFY => Need::Object(Lifecycle),
        Operation::DESTROY => Need::Object(Destroy),
        _ => Need::Administrator,
    }
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

/// Why a request's identity was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    /// The Credential names no known user or its password does not match.
    #[error("authentication failed for user {0:?}")]
    WrongCredential(String),
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
        let file: PolicyFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut credentials = BTreeMap::new();
        for c in file.credentials {
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
            None => caller.identity.clone(),
            Some(c) => {
                self.check_password(c)?;
                c.username.clone()
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
            || self.credentials.contains_key(&principal.identity)
            || self
                .rules
                .iter()
                .any(|r| r.subjects.iter().any(|s| s.covers(&principal)));
        Ok(principal)
    }

    /// Verifies a password against the user's Argon2 hash; an unknown user is verified against a fixed hash
    /// so that the time taken does not tell which user names exist.
    fn check_password(&self, credential: &PasswordCredential) -> Result<(), AuthError> {
        let wrong = || AuthError::WrongCredential(credential.username.clone());
        let password = credential.password.as_ref().map_or("", |p| p.as_str());
        let (hash, known) = match self.credentials.get(&credential.username) {
            Some(h) => (h.as_str(), true),
            None => (UNKNOWN_USER_HASH, false),
        };
        let parsed = PasswordHash::new(hash).map_err(|_| wrong())?;
        // `verify_password` compares the derived hash in constant time.
        let matched = argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        if matched && known && credential.password.is_some() {
            Ok(())
        } else {
            Err(wrong())
        }
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

/// A valid Argon2id hash of a random password nobody knows, verified for unknown user names.
const UNKNOWN_USER_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$a21pcGQtdW5rbm93bg$7nJ8bS0m9Oyc1GvY0n4gYk1H3x5Yc2lBv6qf0cC3d4E";

/// Hashes a password for the policy file (Argon2id, default parameters, random salt).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for the salt: {e}"))?;
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
        assert_eq!(ok.identity, "backup");
        assert!(ok.known);
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

    #[test]
    fn the_unknown_user_hash_parses() {
        assert!(PasswordHash::new(UNKNOWN_USER_HASH).is_ok());
    }
}
