//! A small GraphQL executor over Tibber's schema (the part hemflux and its users' tools use):
//! parses the document, picks the operation, substitutes variables, follows aliases and
//! fragments, checks every field, argument and enum against the schema, and resolves fields
//! with their own arguments at any depth.

use graphql_parser::query::{parse_query, Field, OperationDefinition, Selection, SelectionSet};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::gql_doc::{self, applies, Fragments};

/// A response: objects keep the order of the query's fields (a `serde_json::Map` would sort
/// them), as a GraphQL server answers.
#[derive(Debug)]
pub enum Out {
    Value(Value),
    Object(Vec<(String, Out)>),
    List(Vec<Out>),
}

impl Serialize for Out {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        match self {
            Out::Value(v) => v.serialize(s),
            Out::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Out::List(items) => s.collect_seq(items),
        }
    }
}

/// What a field resolves to.
pub enum Resolved<O> {
    Scalar(Value),
    Object(O),
    List(Vec<O>),
    Null,
}

/// The schema and data: a type name per object, and each field's value from its arguments.
pub trait Schema {
    type Obj;
    fn type_name(&self, obj: &Self::Obj) -> &'static str;
    /// The arguments a field accepts, or `None` if the type has no such field.
    fn field_args(&self, type_name: &str, field: &str) -> Option<&'static [&'static str]>;
    /// The object type a field holds (one, or a list of them); `None` for scalars.
    fn field_type(&self, type_name: &str, field: &str) -> Option<&'static str>;
    fn resolve(
        &self,
        obj: &Self::Obj,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Resolved<Self::Obj>, Error>;
}

/// A GraphQL error: a request error (HTTP 400, no data) or a field error (HTTP 200, null data).
#[derive(Debug)]
pub enum Error {
    Syntax(String),
    Validation(String),
    Field { message: String, code: &'static str },
}

impl Error {
    pub fn field(message: impl Into<String>, code: &'static str) -> Error {
        Error::Field {
            message: message.into(),
            code,
        }
    }
}

/// Runs a request body; the HTTP status and the response body.
pub fn execute<S: Schema>(schema: &S, root: S::Obj, body: &Value) -> (u16, Out) {
    let (status, body) = match run(schema, root, body) {
        Ok(data) => return (200, Out::Object(vec![("data".into(), data)])),
        Err(Error::Syntax(m)) => (
            400,
            json!({"errors": [{"message": m, "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]}),
        ),
        Err(Error::Validation(m)) => (
            400,
            json!({"errors": [{"message": m, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}),
        ),
        Err(Error::Field { message, code }) => (
            200,
            json!({"errors": [{"message": message, "extensions": {"code": code}}], "data": null}),
        ),
    };
    (status, Out::Value(body))
}

fn run<S: Schema>(schema: &S, root: S::Obj, body: &Value) -> Result<Out, Error> {
    let query = body["query"]
        .as_str()
        .ok_or_else(|| Error::Validation("Must provide query string.".into()))?;
    let doc =
        parse_query::<String>(query).map_err(|e| Error::Syntax(format!("Syntax Error: {e}")))?;
    let (fragments, operations) = gql_doc::split(&doc);
    let op = match (body["operationName"].as_str(), operations.as_slice()) {
        (Some(name), ops) => *ops
            .iter()
            .find(
                |op| matches!(op, OperationDefinition::Query(q) if q.name.as_deref() == Some(name)),
            )
            .ok_or_else(|| Error::Validation(format!("Unknown operation named \"{name}\".")))?,
        (None, [op]) => *op,
        (None, _) => {
            return Err(Error::Validation(
                "Must provide operation name if query contains multiple operations.".into(),
            ))
        }
    };
    let (defs, set) = match op {
        OperationDefinition::SelectionSet(s) => (&[][..], s),
        OperationDefinition::Query(q) => (&q.variable_definitions[..], &q.selection_set),
        _ => {
            return Err(Error::Validation(
                "Schema is not configured to execute mutation or subscription operations.".into(),
            ))
        }
    };
    let given = body["variables"].as_object().cloned().unwrap_or_default();
    let vars = gql_doc::variables(defs, &given).map_err(Error::Validation)?;
    let ctx = Ctx {
        schema,
        fragments: &fragments,
        vars: &vars,
    };
    // Validate the whole document against the types first, whatever the data: a bad field
    // deep down (even under an empty list) fails the request, not a field.
    ctx.validate(schema.type_name(&root), &[set])?;
    ctx.select(&root, &[set])
}

struct Ctx<'a, 'q, S> {
    schema: &'a S,
    fragments: &'a Fragments<'q>,
    vars: &'a Map<String, Value>,
}

/// The fields of one response key, gathered from the selection sets (and their fragments) that
/// apply to an object, in the order the key first appears.
type Grouped<'q> = Vec<(String, Vec<&'q Field<'q, String>>)>;

impl<'q, S: Schema> Ctx<'_, 'q, S> {
    /// Groups fields by response key, as GraphQL's CollectFields does: a field selected twice
    /// (directly and in a fragment, say) is one field whose sub-selections are merged.
    fn collect(
        &self,
        ty: &str,
        sets: &[&'q SelectionSet<'q, String>],
        out: &mut Grouped<'q>,
    ) -> Result<(), Error> {
        for set in sets {
            for item in &set.items {
                match item {
                    Selection::Field(f) => {
                        let key = f.alias.as_ref().unwrap_or(&f.name);
                        match out.iter_mut().find(|(k, _)| k == key) {
                            Some((_, fields)) if fields[0].name != f.name => {
                                return Err(Error::Validation(format!(
                                    "Fields \"{key}\" conflict because \"{}\" and \"{}\" are different fields.",
                                    fields[0].name, f.name
                                )))
                            }
                            Some((_, fields)) => fields.push(f),
                            None => out.push((key.clone(), vec![f])),
                        }
                    }
                    Selection::InlineFragment(frag) => {
                        if applies(frag.type_condition.as_ref(), ty) {
                            self.collect(ty, &[&frag.selection_set], out)?;
                        }
                    }
                    Selection::FragmentSpread(spread) => {
                        let frag = self
                            .fragments
                            .get(spread.fragment_name.as_str())
                            .ok_or_else(|| {
                                Error::Validation(format!(
                                    "Unknown fragment \"{}\".",
                                    spread.fragment_name
                                ))
                            })?;
                        if applies(Some(&frag.type_condition), ty) {
                            self.collect(ty, &[&frag.selection_set], out)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The arguments of one field, checked against the schema.
    fn arguments(&self, ty: &str, f: &Field<'q, String>) -> Result<Map<String, Value>, Error> {
        let allowed = self.schema.field_args(ty, &f.name).ok_or_else(|| {
            Error::Validation(format!(
                "Cannot query field \"{}\" on type \"{ty}\".",
                f.name
            ))
        })?;
        let mut args = Map::new();
        for (name, value) in &f.arguments {
            if !allowed.contains(&name.as_str()) {
                return Err(Error::Validation(format!(
                    "Unknown argument \"{name}\" on field \"{ty}.{}\".",
                    f.name
                )));
            }
            args.insert(
                name.clone(),
                gql_doc::to_json(value, self.vars).map_err(Error::Validation)?,
            );
        }
        Ok(args)
    }

    /// Checks names, arguments, and which fields need a selection, type by type.
    fn validate(&self, ty: &str, sets: &[&'q SelectionSet<'q, String>]) -> Result<(), Error> {
        let mut grouped = Vec::new();
        self.collect(ty, sets, &mut grouped)?;
        for (key, fields) in grouped {
            let f = fields[0];
            if f.name == "__typename" {
                continue;
            }
            let args = self.arguments(ty, f)?;
            for other in &fields[1..] {
                if self.arguments(ty, other)? != args {
                    return Err(Error::Validation(format!(
                        "Fields \"{key}\" conflict because they have differing arguments."
                    )));
                }
            }
            let subsets: Vec<&'q SelectionSet<'q, String>> =
                fields.iter().map(|f| &f.selection_set).collect();
            let leaf = subsets.iter().all(|s| s.items.is_empty());
            match self.schema.field_type(ty, &f.name) {
                Some(_) if leaf => {
                    return Err(Error::Validation(format!(
                        "Field \"{}\" of type \"{ty}\" must have a selection of subfields.",
                        f.name
                    )))
                }
                Some(inner) => self.validate(inner, &subsets)?,
                None if !leaf => {
                    return Err(Error::Validation(format!(
                        "Field \"{}\" must not have a selection since it is a leaf.",
                        f.name
                    )))
                }
                None => {}
            }
        }
        Ok(())
    }

    /// Projects `obj` on the merged `sets` (already validated).
    fn select(&self, obj: &S::Obj, sets: &[&'q SelectionSet<'q, String>]) -> Result<Out, Error> {
        let ty = self.schema.type_name(obj);
        let mut grouped = Vec::new();
        self.collect(ty, sets, &mut grouped)?;
        let mut out = Vec::with_capacity(grouped.len());
        for (key, fields) in grouped {
            let f = fields[0];
            if f.name == "__typename" {
                out.push((key, Out::Value(ty.into())));
                continue;
            }
            let args = self.arguments(ty, f)?;
            let subsets: Vec<&'q SelectionSet<'q, String>> =
                fields.iter().map(|f| &f.selection_set).collect();
            let value = match self.schema.resolve(obj, &f.name, &args)? {
                Resolved::Scalar(v) => Out::Value(v),
                Resolved::Null => Out::Value(Value::Null),
                Resolved::Object(o) => self.select(&o, &subsets)?,
                Resolved::List(items) => Out::List(
                    items
                        .iter()
                        .map(|o| self.select(o, &subsets))
                        .collect::<Result<_, _>>()?,
                ),
            };
            out.push((key, value));
        }
        Ok(Out::Object(out))
    }
}
