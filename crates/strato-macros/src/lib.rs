//! Procedural macros for [strato](https://docs.rs/strato). Use them through `strato`'s own
//! macros (`strato::closure!`), which pass the path of the `strato` crate along, so a
//! program depends on `strato` alone.
//!
//! `closure_impl!(krate; move || body)` turns a capturing closure into
//! `krate::thread::Closure::__new(captures, move |captures| body)`: the captures become a
//! value that serializes (nested pairs, each a captured variable) and the body a closure
//! that captures nothing, so the worker process can run it from its type alone.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{ExprClosure, Ident, Path, Token};

mod captures;

/// What `strato::closure!` passes: the path of the strato crate, a `;`, the closure.
struct Input {
    krate: Path,
    closure: ExprClosure,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let krate = Path::parse_mod_style(input)?;
        input.parse::<Token![;]>()?;
        let closure = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "closure! takes a closure: `closure!(move || ...)`",
            )
        })?;
        Ok(Input { krate, closure })
    }
}

/// The expansion of `strato::closure!`; not meant to be called directly.
///
/// ```ignore
/// strato_macros::closure_impl!(::strato; move || total + 1)
/// ```
#[doc(hidden)]
#[proc_macro]
pub fn closure_impl(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    match syn::parse::<Input>(input).and_then(expand) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand(Input { krate, closure }: Input) -> syn::Result<TokenStream> {
    if let Some(input) = closure.inputs.first() {
        return Err(syn::Error::new_spanned(
            input,
            "closure! takes a thread body, a closure without parameters: `closure!(move || ...)`",
        ));
    }
    if let Some(asyncness) = &closure.asyncness {
        return Err(syn::Error::new_spanned(
            asyncness,
            "closure! takes a thread body, not an async closure",
        ));
    }
    let captures = captures::captures(&closure);
    let values = nested(captures.iter().map(|ident| quote!(#ident)));
    let pattern = nested(captures.iter().map(|ident| quote!(mut #ident)));
    let output = &closure.output;
    let body = &closure.body;
    let env = Ident::new("env", Span::mixed_site());
    let run = Ident::new("run", Span::mixed_site());
    Ok(quote_spanned! {Span::mixed_site()=>
        {
            let #env = #values;
            #[allow(unused_mut, clippy::unused_unit)]
            let #run = #krate::thread::Closure::__body(&#env, move |#pattern| #output #body);
            #krate::thread::Closure::__new(#env, #run)
        }
    })
}

/// `(a, (b, (c, ())))`: any number of values as one serializable value.
fn nested(items: impl DoubleEndedIterator<Item = TokenStream>) -> TokenStream {
    items
        .rev()
        .fold(quote!(()), |rest, item| quote!((#item, #rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expansion(input: &str) -> syn::Result<String> {
        expand(syn::parse_str::<Input>(input)?).map(|tokens| tokens.to_string())
    }

    #[test]
    fn the_expansion_names_only_the_given_crate() {
        let text =
            expansion(":: strato; move || format!(\"{name}\", ) + &total.to_string()").unwrap();
        assert!(
            text.contains(":: strato :: thread :: Closure :: __new"),
            "{text}"
        );
        assert!(text.contains("(name , (total , ()))"), "{text}");
        assert!(
            text.contains("move | (mut name , (mut total , ())) |"),
            "{text}"
        );
        assert!(
            !text.contains("serde"),
            "a user's crate need not depend on serde: {text}"
        );
    }

    #[test]
    fn parameters_and_async_closures_are_refused_with_a_reason() {
        let error = expansion("::strato; move |x: u32| x").unwrap_err();
        assert!(error.to_string().contains("without parameters"), "{error}");
        let error = expansion("::strato; async move || 1").unwrap_err();
        assert!(
            error.to_string().contains("not an async closure"),
            "{error}"
        );
        let error = syn::parse_str::<Input>("::strato; 5").err().unwrap();
        assert!(
            error.to_string().contains("closure! takes a closure"),
            "{error}"
        );
    }
}
