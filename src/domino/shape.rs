//! A small language for the shape of a listing's records, which each kind module uses to
//! declare what it reads: the fields dmm reads, their JSON
//! types, and whether they must be there; and the check of one record against it.

use serde_json::Value;

use super::json_type;

/// The JSON type a field must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Str,
    Bool,
    Object,
    Array,
    /// A non-negative integer.
    Count,
    /// Anything (the field is read as it comes).
    Any,
}

/// Whether a field must be there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Present and not null (a plain field of the kind's record).
    Required,
    /// Absent or null is fine (an `Option` field).
    Optional,
    /// Absent is fine, null is not (a field with a default value).
    Defaulted,
}

/// One field a kind module reads: its path (`a.b` for a field of an object field), its type,
/// and whether it must be there.
#[derive(Clone, Copy, Debug)]
pub struct Field(pub &'static str, pub Ty, pub Need);

use Need::{Optional, Required};
use Ty::{Any, Array, Bool, Count, Object, Str};

/// The fields dmm reads of each listing's records, as the modules that read them declare them
/// next to their `Deserialize` structs (a field that is missing where required, or of another
/// type, makes those skip the record).
pub mod shapes {
    pub use crate::domino::kinds::apps::{RECORD_SHAPE as APP, VOLUME_SHAPE as DATA_VOLUME};
    pub use crate::domino::kinds::model_versions::{
        MODEL_SHAPE as MODEL, VERSION_PAGE_SHAPE as VERSION_PAGE, VERSION_SHAPE as VERSION,
    };
    pub use crate::domino::kinds::scheduled_jobs::RECORD_SHAPE as SCHEDULED_JOB;
    pub use crate::domino::kinds::workspaces::{
        PAGE_SHAPE as WORKSPACE_PAGE, ROW_SHAPE as WORKSPACE_ROW,
    };
    pub use crate::domino::projects::PROJECT_SHAPE as PROJECT;
}

fn ty_name(ty: Ty) -> &'static str {
    match ty {
        Str => "a string",
        Bool => "a boolean",
        Object => "an object",
        Array => "an array",
        Count => "a non-negative integer",
        Any => "any value",
    }
}

fn has_type(value: &Value, ty: Ty) -> bool {
    match ty {
        Str => value.is_string(),
        Bool => value.is_boolean(),
        Object => value.is_object(),
        Array => value.is_array(),
        Count => value.is_u64(),
        Any => true,
    }
}

/// Checks one record against the fields dmm reads; the first mismatch, naming the field.
pub fn check_shape(record: &Value, fields: &[Field]) -> Result<(), String> {
    if !record.is_object() {
        return Err(format!(
            "the record is {}, not an object",
            json_type(record)
        ));
    }
    for &Field(path, ty, need) in fields {
        // A field of an object field is looked at only when that object is there.
        let mut value = Some(record);
        let mut parent_missing = false;
        let parts: Vec<&str> = path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            match value.and_then(|v| v.get(part)) {
                Some(v) => value = Some(v),
                None => {
                    parent_missing = i + 1 < parts.len();
                    value = None;
                    break;
                }
            }
            if i + 1 < parts.len() && value.is_some_and(Value::is_null) {
                parent_missing = true;
                value = None;
                break;
            }
        }
        if parent_missing {
            continue;
        }
        match (value, need) {
            (None, Required) => return Err(format!("field `{path}` is missing")),
            (None, _) => {}
            (Some(Value::Null), Optional) => {}
            (Some(Value::Null), _) => {
                return Err(format!("field `{path}` is null, expected {}", ty_name(ty)));
            }
            (Some(v), _) if !has_type(v, ty) => {
                return Err(format!(
                    "field `{path}` is {}, expected {}",
                    json_type(v),
                    ty_name(ty)
                ));
            }
            (Some(_), _) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_shape_names_the_field_that_is_missing_or_of_another_type() {
        let app = json!({"id": "a1", "name": "x", "status": "Running", "hardwareTierId": null,
            "projectId": "p1", "publisher": {"userName": "alice"}, "extra": [1]});
        assert_eq!(check_shape(&app, shapes::APP), Ok(()));
        let mut missing = app.clone();
        missing.as_object_mut().unwrap().remove("status");
        assert_eq!(
            check_shape(&missing, shapes::APP),
            Err("field `status` is missing".into())
        );
        let mut typed = app.clone();
        typed["projectId"] = json!(7);
        assert_eq!(
            check_shape(&typed, shapes::APP),
            Err("field `projectId` is a number, expected a string".into())
        );
        let mut nested = app.clone();
        nested["publisher"] = json!({"userName": 3});
        assert_eq!(
            check_shape(&nested, shapes::APP),
            Err("field `publisher.userName` is a number, expected a string".into())
        );
        // An optional object that is null or absent: its fields are not looked at.
        let mut no_publisher = app.clone();
        no_publisher["publisher"] = Value::Null;
        assert_eq!(check_shape(&no_publisher, shapes::APP), Ok(()));
        no_publisher.as_object_mut().unwrap().remove("publisher");
        assert_eq!(check_shape(&no_publisher, shapes::APP), Ok(()));
        // A defaulted field may be absent but not null.
        let job = json!({"id": "j", "isPaused": null});
        assert_eq!(
            check_shape(&job, shapes::SCHEDULED_JOB),
            Err("field `isPaused` is null, expected a boolean".into())
        );
        assert_eq!(
            check_shape(&json!({"id": "j"}), shapes::SCHEDULED_JOB),
            Ok(())
        );
        // A required object's own required field.
        let version = json!({"id": "v", "deploymentStatus": {"isPending": false}});
        assert_eq!(
            check_shape(&version, shapes::VERSION),
            Err("field `deploymentStatus.name` is missing".into())
        );
        assert_eq!(
            check_shape(&json!("junk"), shapes::PROJECT),
            Err("the record is a string, not an object".into())
        );
        assert_eq!(
            check_shape(
                &json!({"tableRows": [], "totalEntries": -1}),
                shapes::WORKSPACE_PAGE
            ),
            Err("field `totalEntries` is a number, expected a non-negative integer".into())
        );
    }

    /// Every way one field of `valid` can be wrong: absent, null, or of another type.
    fn variants(valid: &Value, fields: &[Field]) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for &Field(path, ty, _) in fields {
            let parts: Vec<&str> = path.split('.').collect();
            let (parents, last) = parts.split_at(parts.len() - 1);
            let edit = |change: &dyn Fn(&mut serde_json::Map<String, Value>)| {
                let mut record = valid.clone();
                let mut at = &mut record;
                for p in parents {
                    at = at.get_mut(*p).unwrap();
                }
                change(at.as_object_mut().unwrap());
                record
            };
            out.push((
                format!("{path} absent"),
                edit(&|o| {
                    o.remove(last[0]);
                }),
            ));
            out.push((
                format!("{path} null"),
                edit(&|o| {
                    o.insert(last[0].into(), Value::Null);
                }),
            ));
            let wrong = match ty {
                Str => json!(7),
                Bool | Object | Array => json!("x"),
                Count => json!(-1),
                Any => continue,
            };
            out.push((
                format!("{path} of another type"),
                edit(&|o| {
                    o.insert(last[0].into(), wrong.clone());
                }),
            ));
        }
        out
    }

    /// The shapes say what the kind modules' parsers say: a record that fails a shape is one
    /// the parser skips, and one that passes is parsed.
    #[tokio::test]
    async fn the_shapes_agree_with_what_the_kinds_parse() {
        use crate::domino::kinds::{apps, scheduled_jobs, workspaces};
        use crate::domino::test_support::{FakeDomino, test_client};
        use std::sync::Arc;

        let app = json!({"id": "a1", "name": "dash", "status": "Running", "hardwareTierId": "small",
            "projectId": "p1", "publisher": {"userName": "alice"}});
        for (what, record) in variants(&app, shapes::APP) {
            let fake = FakeDomino::new();
            fake.get("/v4/modelProducts", json!([record.clone()]));
            let client = test_client(&Arc::new(fake).serve().await);
            let listing = apps::list_running(&client).await.unwrap();
            let parsed = listing.problems.is_empty();
            assert_eq!(
                check_shape(&record, shapes::APP).is_ok(),
                parsed,
                "app, {what}: {:?}",
                check_shape(&record, shapes::APP)
            );
        }

        let job = json!({"id": "j1", "projectId": "p1", "title": "nightly",
            "scheduledByUserName": "alice", "isPaused": false});
        let fake = FakeDomino::new();
        let cases = variants(&job, shapes::SCHEDULED_JOB);
        for (i, (_, record)) in cases.iter().enumerate() {
            fake.get(&format!("/v4/projects/p{i}/scheduledjobs"), json!([record]));
        }
        let client = test_client(&Arc::new(fake).serve().await);
        for (i, (what, record)) in cases.iter().enumerate() {
            let listing = scheduled_jobs::list_project(&client, &format!("p{i}"))
                .await
                .unwrap();
            assert_eq!(
                check_shape(record, shapes::SCHEDULED_JOB).is_ok(),
                listing.problems.is_empty(),
                "scheduled job, {what}"
            );
        }

        let row = json!({"workspaceId": "w1", "name": "ws", "projectName": "churn",
            "projectOwnerName": "alice", "ownerUsername": "bob", "workspaceState": "Started"});
        for (what, record) in variants(&row, shapes::WORKSPACE_ROW) {
            assert_eq!(
                check_shape(&record, shapes::WORKSPACE_ROW).is_ok(),
                serde_json::from_value::<workspaces::WorkspaceRow>(record).is_ok(),
                "workspace row, {what}"
            );
        }
        let project = json!({"id": "p1", "name": "churn", "ownerUsername": "alice"});
        for (what, record) in variants(&project, shapes::PROJECT) {
            assert_eq!(
                check_shape(&record, shapes::PROJECT).is_ok(),
                serde_json::from_value::<crate::domino::Project>(record).is_ok(),
                "project, {what}"
            );
        }
    }
}
