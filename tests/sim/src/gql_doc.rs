//! What the Arrigo and Tibber GraphQL executors share: a document's fragments and operations,
//! an operation's variables, literal values as JSON, and fragment type conditions. Errors are
//! GraphQL's own messages; each executor answers them in its server's shape.

use std::collections::HashMap;

use graphql_parser::query::{
    Definition, Document, FragmentDefinition, OperationDefinition, Type, TypeCondition,
    Value as Gql, VariableDefinition,
};
use serde_json::{json, Map, Value};

/// A document's fragments by name.
pub type Fragments<'q> = HashMap<&'q str, &'q FragmentDefinition<'q, String>>;

/// A document's fragments by name and its operations in order.
pub fn split<'q>(
    doc: &'q Document<'q, String>,
) -> (Fragments<'q>, Vec<&'q OperationDefinition<'q, String>>) {
    let mut fragments: Fragments = HashMap::new();
    let mut operations = Vec::new();
    for def in &doc.definitions {
        match def {
            Definition::Fragment(f) => {
                fragments.insert(f.name.as_str(), f);
            }
            Definition::Operation(op) => operations.push(op),
        }
    }
    (fragments, operations)
}

/// An operation's variables: the request's value, else the default; a required one missing is
/// an error.
pub fn variables(
    defs: &[VariableDefinition<'_, String>],
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut variables = Map::new();
    for def in defs {
        let value = match (given.get(&def.name), &def.default_value) {
            (Some(v), _) => v.clone(),
            (None, Some(default)) => to_json(default, &Map::new())?,
            (None, None) => Value::Null,
        };
        if value.is_null() && matches!(def.var_type, Type::NonNullType(_)) {
            return Err(format!(
                "Variable \"${}\" of required type \"{}\" was not provided.",
                def.name, def.var_type
            ));
        }
        variables.insert(def.name.clone(), value);
    }
    Ok(variables)
}

/// A literal (argument or default) as JSON, variables substituted.
pub fn to_json(value: &Gql<'_, String>, variables: &Map<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Gql::Variable(name) => variables
            .get(name)
            .cloned()
            .ok_or_else(|| format!("Variable \"${name}\" is not defined."))?,
        Gql::Int(n) => json!(n.as_i64()),
        Gql::Float(f) => json!(f),
        Gql::String(s) | Gql::Enum(s) => json!(s),
        Gql::Boolean(b) => json!(b),
        Gql::Null => Value::Null,
        Gql::List(items) => Value::Array(
            items
                .iter()
                .map(|v| to_json(v, variables))
                .collect::<Result<_, _>>()?,
        ),
        Gql::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), to_json(v, variables)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// Whether a fragment with this type condition (none: any type) applies to `type_name`.
pub fn applies(cond: Option<&TypeCondition<'_, String>>, type_name: &str) -> bool {
    match cond {
        None => true,
        Some(TypeCondition::On(t)) => t == type_name,
    }
}
