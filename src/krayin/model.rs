//! Wire types of Krayin's REST API (contract `krayin-api.md` §3–§11).
//!
//! Both sides use these: the sandbox serializes them, the client deserializes them, so the two
//! cannot drift apart silently. Krayin sends ids and flags as integers and decimals as strings,
//! but echoes whatever type was sent on create (§7 "Create semantics"), so every number here is
//! read leniently (number or numeric string, §12).
//!
//! Not here: request bodies the import builds (they are plain `serde_json::Value`s shaped by the
//! mapping), and anything about HTTP.

use serde::{Deserialize, Deserializer, Serialize};

/// `{"data": T}` or `{"data": T, "message": "..."}`: every single-item answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub data: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A Laravel paginated resource collection (§6).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub links: PageLinks,
    pub meta: PageMeta,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageLinks {
    pub first: Option<String>,
    pub last: Option<String>,
    pub prev: Option<String>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageMeta {
    pub current_page: u64,
    pub from: Option<u64>,
    pub last_page: u64,
    pub links: Vec<MetaLink>,
    pub path: String,
    pub per_page: u64,
    pub to: Option<u64>,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaLink {
    pub url: Option<String>,
    pub label: String,
    pub active: bool,
}

/// `{"data": [...]}`: `pagination=0` lists and the search endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
}

/// `POST /login` answer: the token is top-level, not inside `data` (§3).
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginResponse {
    pub data: User,
    pub message: String,
    pub token: String,
}

impl std::fmt::Debug for LoginResponse {
    // The token never reaches a log line, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("data", &self.data)
            .field("message", &self.message)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Laravel's error body: `message`, and `errors` by field on 422 (§5).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub permission_type: String,
    pub permissions: Option<serde_json::Value>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    pub name: String,
    pub email: String,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub status: Option<u64>,
    pub view_permission: Option<String>,
    pub role: Option<Role>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
}

/// An e-mail or phone entry of a person: `{"value": "...", "label": "work"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabeledValue {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub address: Option<serde_json::Value>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Person {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub emails: Vec<LabeledValue>,
    #[serde(default)]
    pub contact_numbers: Option<Vec<LabeledValue>>,
    /// Omitted by Krayin when the person has no organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Organization>,
    pub job_title: Option<String>,
    /// Omitted by Krayin when the person has no sales owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_owner: Option<User>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeadProduct {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub quantity: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub price: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub amount: Option<String>,
    #[serde(default)]
    pub product: Option<serde_json::Value>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lead {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    #[serde(default)]
    pub title: Option<String>,
    pub description: Option<String>,
    /// DECIMAL(12,4) as a string on GET (`"12500.0000"`), the sent type on create.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub lead_value: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub status: Option<u64>,
    pub lost_reason: Option<String>,
    pub closed_at: Option<String>,
    pub user: Option<User>,
    pub person: Option<Person>,
    #[serde(default)]
    pub lead_products: Vec<LeadProduct>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub lead_source_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub lead_type_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub lead_pipeline_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub lead_pipeline_stage_id: Option<u64>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub expected_close_date: Option<String>,
}

/// A lead source or a lead type (§11): same shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedItem {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    pub name: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stage {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    pub code: Option<String>,
    pub name: String,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub lead_value: Option<String>,
    #[serde(default)]
    pub formatted_lead_value: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub is_user_defined: Option<u64>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pipeline {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    pub name: String,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub is_default: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub rotten_days: Option<u64>,
    #[serde(default)]
    pub stages: Vec<Stage>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attribute {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub lookup_type: Option<String>,
    pub entity_type: String,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub sort_order: Option<u64>,
    pub validation: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub is_required: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub is_unique: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub quick_add: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub is_user_defined: Option<u64>,
    #[serde(default)]
    pub options: Option<serde_json::Value>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// A participant of an activity: a user or a person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Participant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Activity {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub parent_id: Option<u64>,
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub comment: Option<String>,
    #[serde(default)]
    pub additional: Option<serde_json::Value>,
    pub schedule_from: Option<String>,
    pub schedule_to: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub is_done: Option<u64>,
    pub user: Option<User>,
    #[serde(default)]
    pub files: Vec<serde_json::Value>,
    #[serde(default)]
    pub participants: Vec<Participant>,
    pub location: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrString {
    U(u64),
    I(i64),
    F(f64),
    S(String),
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    lenient_opt_u64(d)?.ok_or_else(|| serde::de::Error::custom("expected an id, found null"))
}

/// Ids and flags: an integer, or a string holding one (§12). Empty string and null are `None`.
fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    Ok(match Option::<NumOrString>::deserialize(d)? {
        None => None,
        Some(NumOrString::U(n)) => Some(n),
        Some(NumOrString::I(n)) => {
            Some(u64::try_from(n).map_err(|_| D::Error::custom(format!("negative id {n}")))?)
        }
        Some(NumOrString::F(f)) if f >= 0.0 && f.fract() == 0.0 => Some(f as u64),
        Some(NumOrString::F(f)) => return Err(D::Error::custom(format!("not an id: {f}"))),
        Some(NumOrString::S(s)) if s.trim().is_empty() => None,
        Some(NumOrString::S(s)) => Some(
            s.trim()
                .parse()
                .map_err(|_| D::Error::custom(format!("not an id: {s:?}")))?,
        ),
    })
}

/// Decimals: Krayin sends strings on GET but echoes numbers on create (§7).
fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<NumOrString>::deserialize(d)? {
        None => None,
        Some(NumOrString::U(n)) => Some(n.to_string()),
        Some(NumOrString::I(n)) => Some(n.to_string()),
        Some(NumOrString::F(f)) => Some(f.to_string()),
        Some(NumOrString::S(s)) => Some(s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_reads_numbers_and_strings_alike() {
        let a: Lead = serde_json::from_str(
            r#"{"id":"7","title":"t","description":null,"lead_value":12500.5,"status":1,
               "lost_reason":null,"closed_at":null,"user":null,"person":null,"lead_products":[],
               "lead_source_id":"2","lead_type_id":1,"lead_pipeline_id":1,
               "lead_pipeline_stage_id":"1","created_at":null,"updated_at":null,
               "expected_close_date":null}"#,
        )
        .unwrap();
        assert_eq!(a.id, 7);
        assert_eq!(a.lead_value.as_deref(), Some("12500.5"));
        assert_eq!(a.lead_source_id, Some(2));
        assert_eq!(a.lead_pipeline_stage_id, Some(1));
    }

    #[test]
    fn login_debug_hides_the_token() {
        let user = User {
            id: 1,
            name: "a".into(),
            email: "a@b.c".into(),
            status: Some(1),
            view_permission: None,
            role: None,
            created_at: None,
            updated_at: None,
            image: None,
            image_url: None,
        };
        let r = LoginResponse {
            data: user,
            message: "ok".into(),
            token: "1|secretsecret".into(),
        };
        assert!(!format!("{r:?}").contains("secret"));
    }
}
