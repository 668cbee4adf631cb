//! Which variables of the enclosing scope a closure's body names.
//!
//! A procedural macro sees tokens, not name resolution, so this is the rule a reader would
//! apply: a single-segment path such as `total` or `hits` that starts with a lower-case
//! letter, is not called as a function (`square(x)`), has no turbofish, and is not bound
//! inside the closure (by its parameters, a `let`, a pattern of `match`, `for`, `if let` or
//! `while let`, or an inner closure's parameters) is a capture. Macro arguments are read as
//! expressions; the inline arguments of std's formatting macros (`{name}`) count too.

use std::collections::HashSet;

use proc_macro2::Ident;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Expr, ExprLit, Lit, LitStr, Macro, Pat, Token};

/// The std macros whose string argument may name variables inline (`"{total}"`).
const FORMAT_MACROS: &[&str] = &[
    "format",
    "format_args",
    "print",
    "println",
    "eprint",
    "eprintln",
    "write",
    "writeln",
    "panic",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "unreachable",
    "todo",
    "unimplemented",
];

/// The captures of `closure`, in the order they first appear.
pub fn captures(closure: &syn::ExprClosure) -> Vec<Ident> {
    let mut finder = Finder::default();
    finder.visit_expr_closure(closure);
    finder.found
}

/// Walks a closure, keeping the names bound inside it per scope.
#[derive(Default)]
struct Finder {
    scopes: Vec<HashSet<String>>,
    found: Vec<Ident>,
}

impl Finder {
    fn in_scope(&mut self, walk: impl FnOnce(&mut Self)) {
        self.scopes.push(HashSet::new());
        walk(self);
        self.scopes.pop();
    }

    fn bind(&mut self, pat: &Pat) {
        let mut binder = Binder::default();
        binder.visit_pat(pat);
        if let Some(scope) = self.scopes.last_mut() {
            scope.extend(binder.names);
        }
    }

    fn is_bound(&self, name: &str) -> bool {
        self.scopes.iter().any(|scope| scope.contains(name))
    }

    fn note(&mut self, ident: &Ident) {
        let name = ident.to_string();
        let looks_like_variable = name != "self"
            && name.chars().next().is_some_and(|c| !c.is_uppercase())
            && !self.is_bound(&name);
        if looks_like_variable && !self.found.iter().any(|seen| *seen == name) {
            self.found.push(ident.clone());
        }
    }

    /// A macro's arguments, read as expressions where they parse as such.
    fn visit_macro_arguments(&mut self, mac: &Macro) {
        let name = mac.path.segments.last().map(|s| s.ident.to_string());
        if name.as_deref() == Some("matches") {
            if let Ok((scrutinee, pattern, guard)) = mac.parse_body_with(parse_matches) {
                self.visit_expr(&scrutinee);
                self.in_scope(|this| {
                    this.bind(&pattern);
                    guard.iter().for_each(|guard| this.visit_expr(guard));
                });
            }
            return;
        }
        let Ok(args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) else {
            if let Ok((value, count)) = mac.parse_body_with(parse_repeat) {
                self.visit_expr(&value);
                self.visit_expr(&count);
            }
            return;
        };
        let is_format = name.is_some_and(|n| FORMAT_MACROS.contains(&n.as_str()));
        let mut named = HashSet::new();
        for arg in &args {
            match arg {
                Expr::Assign(assign) if is_format => {
                    if let Expr::Path(path) = &*assign.left {
                        if let Some(ident) = path.path.get_ident() {
                            named.insert(ident.to_string());
                        }
                    }
                    self.visit_expr(&assign.right);
                }
                _ => self.visit_expr(arg),
            }
        }
        if is_format {
            if let Some(template) = args.iter().find_map(string_literal) {
                for ident in inline_arguments(template) {
                    if !named.contains(&ident.to_string()) {
                        self.note(&ident);
                    }
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Finder {
    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.in_scope(|this| visit::visit_block(this, block));
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        if let Some(init) = &local.init {
            self.visit_expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
        self.bind(&local.pat);
    }

    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        self.in_scope(|this| {
            closure.inputs.iter().for_each(|input| this.bind(input));
            this.visit_expr(&closure.body);
        });
    }

    fn visit_expr_for_loop(&mut self, for_loop: &'ast syn::ExprForLoop) {
        self.visit_expr(&for_loop.expr);
        self.in_scope(|this| {
            this.bind(&for_loop.pat);
            this.visit_block(&for_loop.body);
        });
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        self.in_scope(|this| {
            this.bind(&arm.pat);
            if let Some((_, guard)) = &arm.guard {
                this.visit_expr(guard);
            }
            this.visit_expr(&arm.body);
        });
    }

    fn visit_expr_if(&mut self, expr: &'ast syn::ExprIf) {
        self.in_scope(|this| {
            this.visit_expr(&expr.cond);
            this.visit_block(&expr.then_branch);
        });
        if let Some((_, otherwise)) = &expr.else_branch {
            self.visit_expr(otherwise);
        }
    }

    fn visit_expr_while(&mut self, expr: &'ast syn::ExprWhile) {
        self.in_scope(|this| {
            this.visit_expr(&expr.cond);
            this.visit_block(&expr.body);
        });
    }

    fn visit_expr_let(&mut self, expr: &'ast syn::ExprLet) {
        self.visit_expr(&expr.expr);
        self.bind(&expr.pat);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        // `square(x)`: a single-segment callee is taken for a function, not a capture.
        if !matches!(&*call.func, Expr::Path(path) if path.path.get_ident().is_some()) {
            self.visit_expr(&call.func);
        }
        call.args.iter().for_each(|arg| self.visit_expr(arg));
    }

    fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
        if expr.qself.is_none() {
            if let Some(ident) = expr.path.get_ident() {
                self.note(ident);
            }
        }
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        self.visit_macro_arguments(mac);
    }

    // Items declared inside the body (`fn`, `struct`, `const`) cannot capture.
    fn visit_item(&mut self, _item: &'ast syn::Item) {}
}

/// Collects the names a pattern binds.
#[derive(Default)]
struct Binder {
    names: Vec<String>,
}

impl<'ast> Visit<'ast> for Binder {
    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        self.names.push(pat.ident.to_string());
        if let Some((_, sub)) = &pat.subpat {
            self.visit_pat(sub);
        }
    }

    // A range or constant in a pattern names no binding.
    fn visit_expr(&mut self, _expr: &'ast Expr) {}
}

fn string_literal(expr: &Expr) -> Option<&LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

/// The variables a format string names inline: `{total}`, `{value:>width$}`.
fn inline_arguments(template: &LitStr) -> Vec<Ident> {
    let text = template.value();
    let mut names = Vec::new();
    let mut rest = text.as_str();
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(escaped) = rest.strip_prefix('{') {
            rest = escaped;
            continue;
        }
        let Some(close) = rest.find('}') else { break };
        let (argument, spec) = rest[..close]
            .split_once(':')
            .unwrap_or((&rest[..close], ""));
        names.extend(identifier(argument.trim()));
        names.extend(spec.split('$').rev().skip(1).filter_map(|s| {
            let start = s.rfind(|c: char| !(c.is_alphanumeric() || c == '_'));
            identifier(&s[start.map_or(0, |i| i + 1)..])
        }));
        rest = &rest[close + 1..];
    }
    names
        .into_iter()
        .map(|name| Ident::new(&name, template.span()))
        .collect()
}

fn identifier(text: &str) -> Option<String> {
    let mut chars = text.chars();
    let first = chars.next()?;
    let is_identifier = (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && text != "_";
    is_identifier.then(|| text.to_string())
}

/// `matches!(scrutinee, pattern if guard)`: the pattern binds names for the guard.
fn parse_matches(input: ParseStream) -> syn::Result<(Expr, Pat, Option<Expr>)> {
    let scrutinee: Expr = input.parse()?;
    input.parse::<Token![,]>()?;
    let pattern = Pat::parse_multi_with_leading_vert(input)?;
    let guard = if input.peek(Token![if]) {
        input.parse::<Token![if]>()?;
        Some(input.parse()?)
    } else {
        None
    };
    input.parse::<Option<Token![,]>>()?;
    Ok((scrutinee, pattern, guard))
}

/// `vec![value; count]`.
fn parse_repeat(input: ParseStream) -> syn::Result<(Expr, Expr)> {
    let value = input.parse()?;
    input.parse::<Token![;]>()?;
    Ok((value, input.parse()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(closure: &str) -> Vec<String> {
        let closure: syn::ExprClosure = syn::parse_str(closure).unwrap();
        captures(&closure).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn finds_the_variables_of_the_enclosing_scope() {
        assert_eq!(
            names("move || hits.fetch_add(i + 1, Ordering::SeqCst)"),
            ["hits", "i"]
        );
        assert_eq!(names("move || square(four)"), ["four"]);
        assert_eq!(names("move || Point { x, y: base }"), ["x", "base"]);
    }

    #[test]
    fn skips_what_the_closure_binds_itself() {
        let body = "move || { let a = n; for i in 0..a { total += i; } match x { Some(v) => v, None => a } }";
        assert_eq!(names(body), ["n", "total", "x"]);
        assert_eq!(
            names("move || items.iter().map(|item| item * k).sum::<u64>()"),
            ["items", "k"]
        );
        assert_eq!(
            names("move || if let Some(v) = slot { v } else { fallback }"),
            ["slot", "fallback"]
        );
        assert_eq!(
            names("move || { let Some(v) = slot else { return dflt }; v }"),
            ["slot", "dflt"]
        );
    }

    #[test]
    fn reads_macro_arguments_and_inline_format_arguments() {
        assert_eq!(
            names(r#"move || format!("{name}: {} {{x}}", total)"#),
            ["total", "name"]
        );
        assert_eq!(
            names(r#"move || format!("{v:>w$}", v = value)"#),
            ["value", "w"]
        );
        assert_eq!(names("move || vec![fill; count]"), ["fill", "count"]);
        assert_eq!(
            names("move || matches!(state, Some(s) if s > limit)"),
            ["state", "limit"]
        );
    }

    #[test]
    fn ignores_paths_types_and_inner_items() {
        let body = "move || { fn helper(q: u8) -> u8 { q } std::mem::drop(VALUE); helper::<>(z) }";
        assert_eq!(names(body), ["z"]);
        assert!(names("move || self.x").is_empty());
    }
}
