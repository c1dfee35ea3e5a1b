//! A small but real GraphQL executor: parses the query, picks the operation, substitutes
//! variables, follows fragments and aliases, answers `__typename`, and projects each root
//! field's resolved JSON onto the selection set. Anything the schema does not have (a field,
//! an argument, a fragment) is an error in GraphQL's own shape, at HTTP 200.
//!
//! Resolved values are JSON objects that name their type in a `__typename` key; the projection
//! never lets a field through that the query did not ask for.

use graphql_parser::query::{parse_query, Field, OperationDefinition, Selection, SelectionSet};
use serde_json::{json, Map, Value};

use crate::gql_doc::{self, applies, to_json, Fragments};

/// Resolves one root field from its name and arguments (variables already substituted).
pub type Resolver<'r> = dyn Fn(&str, &Map<String, Value>) -> Result<Value, String> + 'r;

/// Runs a request body (`{"query", "variables", "operationName"}`) and returns the response body.
pub fn execute(body: &Value, root_type: &str, resolve: &Resolver) -> Value {
    match run(body, root_type, resolve) {
        Ok(data) => json!({ "data": data }),
        Err(message) => json!({ "errors": [{ "message": message }], "data": null }),
    }
}

fn run(body: &Value, root_type: &str, resolve: &Resolver) -> Result<Value, String> {
    let query = body["query"].as_str().ok_or("Must provide query string.")?;
    let doc = parse_query::<String>(query).map_err(|e| format!("Syntax Error: {e}"))?;
    let (fragments, operations) = gql_doc::split(&doc);
    let wanted = body["operationName"].as_str();
    let op = match wanted {
        Some(name) => operations
            .iter()
            .find(|op| operation_name(op) == Some(name))
            .ok_or_else(|| format!("Unknown operation named \"{name}\"."))?,
        None if operations.len() == 1 => &operations[0],
        None => {
            return Err("Must provide operation name if query contains multiple operations.".into())
        }
    };
    let (var_defs, selection) = match op {
        OperationDefinition::SelectionSet(s) => (&[][..], s),
        OperationDefinition::Query(q) => (&q.variable_definitions[..], &q.selection_set),
        OperationDefinition::Mutation(_) => {
            return Err("Schema is not configured for mutations.".into())
        }
        OperationDefinition::Subscription(_) => {
            return Err("Schema is not configured for subscriptions.".into())
        }
    };
    let given = match &body["variables"] {
        Value::Null => Map::new(),
        Value::Object(m) => m.clone(),
        _ => return Err("Variables must be provided as an Object.".into()),
    };
    let variables = gql_doc::variables(var_defs, &given)?;

    let mut data = Map::new();
    for field in collect_fields(selection, root_type, &fragments)? {
        let key = field.alias.as_ref().unwrap_or(&field.name).clone();
        if field.name == "__typename" {
            data.insert(key, json!(root_type));
            continue;
        }
        let mut args = Map::new();
        for (name, value) in &field.arguments {
            args.insert(name.clone(), to_json(value, &variables)?);
        }
        let value = resolve(&field.name, &args)?;
        data.insert(key, project(&value, field, root_type, &fragments)?);
    }
    Ok(Value::Object(data))
}

fn operation_name<'q>(op: &'q OperationDefinition<'q, String>) -> Option<&'q str> {
    match op {
        OperationDefinition::SelectionSet(_) => None,
        OperationDefinition::Query(q) => q.name.as_deref(),
        OperationDefinition::Mutation(m) => m.name.as_deref(),
        OperationDefinition::Subscription(s) => s.name.as_deref(),
    }
}

/// The fields of a selection set that apply to an object of type `type_name`, fragments expanded.
fn collect_fields<'q>(
    set: &'q SelectionSet<'q, String>,
    type_name: &str,
    fragments: &Fragments<'q>,
) -> Result<Vec<&'q Field<'q, String>>, String> {
    let mut out = Vec::new();
    for item in &set.items {
        match item {
            Selection::Field(f) => out.push(f),
            Selection::FragmentSpread(s) => {
                let f = fragments
                    .get(s.fragment_name.as_str())
                    .ok_or_else(|| format!("Unknown fragment \"{}\".", s.fragment_name))?;
                if applies(Some(&f.type_condition), type_name) {
                    out.extend(collect_fields(&f.selection_set, type_name, fragments)?);
                }
            }
            Selection::InlineFragment(i) => {
                if applies(i.type_condition.as_ref(), type_name) {
                    out.extend(collect_fields(&i.selection_set, type_name, fragments)?);
                }
            }
        }
    }
    Ok(out)
}

/// Keeps exactly what `field` selects from `value`, the resolved value of `parent.field`.
fn project<'q>(
    value: &Value,
    field: &'q Field<'q, String>,
    parent: &str,
    fragments: &Fragments<'q>,
) -> Result<Value, String> {
    match value {
        Value::Null => Ok(Value::Null),
        Value::Array(items) => items
            .iter()
            .map(|v| project(v, field, parent, fragments))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(obj) => {
            let type_name = obj["__typename"].as_str().unwrap_or("Object");
            if field.selection_set.items.is_empty() {
                return Err(format!(
                    "Field \"{}\" of type \"{type_name}\" must have a selection of subfields.",
                    field.name
                ));
            }
            let mut out = Map::new();
            for sub in collect_fields(&field.selection_set, type_name, fragments)? {
                let key = sub.alias.as_ref().unwrap_or(&sub.name).clone();
                if let Some((arg, _)) = sub.arguments.first() {
                    return Err(format!(
                        "Unknown argument \"{arg}\" on field \"{type_name}.{}\".",
                        sub.name
                    ));
                }
                let projected = if sub.name == "__typename" {
                    json!(type_name)
                } else {
                    let child = obj.get(sub.name.as_str()).ok_or_else(|| {
                        format!(
                            "Cannot query field \"{}\" on type \"{type_name}\".",
                            sub.name
                        )
                    })?;
                    project(child, sub, type_name, fragments)?
                };
                out.insert(key, projected);
            }
            Ok(Value::Object(out))
        }
        leaf => {
            if !field.selection_set.items.is_empty() {
                return Err(format!(
                    "Field \"{}\" must not have a selection since type \"{parent}.{}\" has no subfields.",
                    field.name, field.name
                ));
            }
            Ok(leaf.clone())
        }
    }
}

/// Builds a connection in both shapes Arrigo serves: `items` and `edges { cursor node }`.
pub fn connection(
    type_name: &str,
    nodes: Vec<(String, Value)>,
    total: usize,
    has_next: bool,
    has_previous: bool,
) -> Value {
    let start = nodes.first().map(|(c, _)| c.clone());
    let end = nodes.last().map(|(c, _)| c.clone());
    let edges: Vec<Value> = nodes
        .iter()
        .map(|(cursor, node)| json!({"__typename": format!("{type_name}Edge"), "cursor": cursor, "node": node}))
        .collect();
    json!({
        "__typename": format!("{type_name}Connection"),
        "totalCount": total,
        "items": nodes.into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
        "edges": edges,
        "pageInfo": {
            "__typename": "PageInfo",
            "startCursor": start, "endCursor": end,
            "hasNextPage": has_next, "hasPreviousPage": has_previous,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(field: &str, args: &Map<String, Value>) -> Result<Value, String> {
        match field {
            "thing" => Ok(
                json!({"__typename": "Thing", "id": args.get("id").cloned().unwrap_or(json!("x")), "n": 1, "inner": {"__typename": "Inner", "v": 2}}),
            ),
            other => Err(format!("Cannot query field \"{other}\" on type \"Root\".")),
        }
    }

    fn run_q(query: &str, vars: Value) -> Value {
        execute(
            &json!({"query": query, "variables": vars}),
            "Root",
            &resolver,
        )
    }

    #[test]
    fn aliases_fragments_variables_and_typename() {
        let r = run_q(
            "query($id: ID!) { a: thing(id: $id) { ...F __typename inner { v } } __typename } fragment F on Thing { id }",
            json!({"id": "q"}),
        );
        assert_eq!(
            r,
            json!({"data": {"a": {"id": "q", "__typename": "Thing", "inner": {"v": 2}}, "__typename": "Root"}})
        );
    }

    #[test]
    fn unknown_fields_arguments_and_missing_variables_are_errors() {
        for (q, vars) in [
            ("{ thing { nope } }", json!({})),
            ("{ other { n } }", json!({})),
            ("{ thing { inner(x: 1) { v } } }", json!({})),
            ("query($id: ID!) { thing(id: $id) { id } }", json!({})),
            ("{ thing }", json!({})),
            ("{ thing { n { v } } }", json!({})),
            ("{ thing { ", json!({})),
        ] {
            let r = run_q(q, vars);
            assert!(r["errors"][0]["message"].is_string(), "{q}: {r}");
            assert!(r["data"].is_null());
        }
    }
}
