//! Lexical environments: frames of bindings, innermost first. Top-level
//! definitions live in the evaluator, not here (they are evaluated on
//! demand, across files).

use std::cell::RefCell;
use std::rc::Rc;

use crate::eval::value::Value;

#[derive(Debug, Default)]
pub struct Env {
    vars: RefCell<Vec<(String, Value)>>,
    parent: Option<Rc<Env>>,
}

impl Env {
    /// The empty environment (the top level).
    pub fn root() -> Rc<Env> {
        Rc::new(Env::default())
    }

    /// A new frame over `parent`.
    pub fn child(parent: &Rc<Env>) -> Rc<Env> {
        Rc::new(Env { vars: RefCell::new(Vec::new()), parent: Some(parent.clone()) })
    }

    /// Binds `name` in this frame (shadowing an earlier binding).
    pub fn define(&self, name: &str, value: Value) {
        self.vars.borrow_mut().push((name.to_string(), value));
    }

    pub fn lookup(&self, name: &str) -> Option<Value> {
        if let Some((_, v)) = self.vars.borrow().iter().rev().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        self.parent.as_ref().and_then(|p| p.lookup(name))
    }
}
