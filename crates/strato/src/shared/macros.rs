//! `shared!`: declares the handle of a user-defined shared object and the methods it exposes.

/// Declares a handle whose methods run on the state server, next to the value.
///
/// ```text
/// strato::shared! {
///     /// docs of the handle
///     pub struct HandleName(ValueType);
///     impl {
///         fn method(&mut self, arg: Type, ...) -> Result;        // runs at once
///         wait fn other(&mut self, arg: Type, ...) -> Result;    // the type's method returns
///                                                                 // Option<Result>; waits on
///                                                                 // the server while None
///     }
/// }
/// ```
///
/// The value type implements the methods in an ordinary `impl` block and derives `Serialize`
/// and `Deserialize`. The handle gets `new(value)`, `open(&client, name, value)`, `get()`,
/// and one method per declared method taking `&self`; it is `Clone`, `Serialize` and
/// `Deserialize`, so tasks can receive it. See [the `shared` module](mod@crate::shared) for an example, and
/// `strato::local::shared!` for the same handle over a local mutex.
#[macro_export]
macro_rules! shared {
    (
        $(#[$meta:meta])*
        $vis:vis struct $handle:ident($ty:ty);
        impl { $($methods:tt)* }
    ) => {
        $crate::__shared_methods! {
            @remote [$(#[$meta])* $vis $handle $ty] [] $($methods)*
        }
    };
}

/// The same handle as [`shared!`](macro@crate::shared), over a `std::sync::Mutex` in this process: for the local
/// twin of a program (`use strato::local::shared;`).
#[doc(hidden)]
#[macro_export]
macro_rules! __shared_local {
    (
        $(#[$meta:meta])*
        $vis:vis struct $handle:ident($ty:ty);
        impl { $($methods:tt)* }
    ) => {
        $crate::__shared_methods! {
            @local [$(#[$meta])* $vis $handle $ty] [] $($methods)*
        }
    };
}

/// Collects the declared methods, then generates (a tt-muncher).
#[doc(hidden)]
#[macro_export]
macro_rules! __shared_methods {
    (@$mode:ident $head:tt [$($done:tt)*]
        $(#[$mm:meta])* wait fn $m:ident(& $($_mut:ident)? self $(, $a:ident : $t:ty)* $(,)?) -> $r:ty;
        $($rest:tt)*
    ) => {
        $crate::__shared_methods! {
            @$mode $head [$($done)* (wait [$(#[$mm])*] $m ($($a : $t),*) $r)] $($rest)*
        }
    };
    (@$mode:ident $head:tt [$($done:tt)*]
        $(#[$mm:meta])* fn $m:ident(& $($_mut:ident)? self $(, $a:ident : $t:ty)* $(,)?) -> $r:ty;
        $($rest:tt)*
    ) => {
        $crate::__shared_methods! {
            @$mode $head [$($done)* (now [$(#[$mm])*] $m ($($a : $t),*) $r)] $($rest)*
        }
    };
    (@remote [$(#[$meta:meta])* $vis:vis $handle:ident $ty:ty]
        [$(($kind:ident [$(#[$mm:meta])*] $m:ident ($($a:ident : $t:ty),*) $r:ty))*]
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        $vis struct $handle($crate::shared::SharedObject<$ty>);

        impl $crate::shared::Shared for $ty {
            fn invoke(
                &mut self,
                method: &str,
                args: &[u8],
            ) -> ::std::result::Result<::std::option::Option<::std::vec::Vec<u8>>, ::std::string::String> {
                $(
                    if method == stringify!($m) {
                        #[allow(unused_parens)]
                        let ($($a,)*): ($($t,)*) = $crate::shared::decode_args(method, args)?;
                        return $crate::__shared_dispatch!($kind, method, self.$m($($a),*));
                    }
                )*
                ::std::result::Result::Err(::std::format!(
                    "`{}` has no shared method `{method}`",
                    stringify!($ty)
                ))
            }
        }

        impl $handle {
            /// Puts `value` on the default state server as a new object.
            #[allow(dead_code)]
            $vis fn new(value: $ty) -> Self {
                $handle($crate::shared::SharedObject::new(value))
            }

            /// Opens the object `name` on `client`, creating it from `value` if absent.
            #[allow(dead_code)]
            $vis fn open(
                client: &$crate::Client,
                name: impl ::std::convert::Into<$crate::ObjectName>,
                value: $ty,
            ) -> ::std::result::Result<Self, $crate::Error> {
                $crate::shared::SharedObject::open(client, name, value).map($handle)
            }

            /// A copy of the whole value.
            #[allow(dead_code)]
            $vis fn get(&self) -> $ty {
                self.0.get()
            }

            $(
                $(#[$mm])*
                $vis fn $m(&self, $($a: $t),*) -> $r {
                    self.0.call(stringify!($m), &($($a,)*))
                }
            )*
        }

        impl $crate::__private::serde::Serialize for $handle {
            fn serialize<S: $crate::__private::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                $crate::__private::serde::Serialize::serialize(&self.0, serializer)
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $handle {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                $crate::__private::serde::Deserialize::deserialize(deserializer).map($handle)
            }
        }
    };
    (@local [$(#[$meta:meta])* $vis:vis $handle:ident $ty:ty]
        [$(($kind:ident [$(#[$mm:meta])*] $m:ident ($($a:ident : $t:ty),*) $r:ty))*]
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        $vis struct $handle(::std::sync::Arc<$crate::shared::LocalShared<$ty>>);

        impl $handle {
            /// Wraps `value` for the threads of this process.
            #[allow(dead_code)]
            $vis fn new(value: $ty) -> Self {
                $handle(::std::sync::Arc::new($crate::shared::LocalShared::new(value)))
            }

            /// A copy of the whole value.
            #[allow(dead_code)]
            $vis fn get(&self) -> $ty
            where
                $ty: ::std::clone::Clone,
            {
                self.0.get()
            }

            $(
                $(#[$mm])*
                $vis fn $m(&self, $($a: $t),*) -> $r {
                    $crate::__shared_local_call!($kind, self.0, $m, ($($a),*))
                }
            )*
        }
    };
}

/// The server side of one call: encode the result, or report "cannot proceed yet".
#[doc(hidden)]
#[macro_export]
macro_rules! __shared_dispatch {
    (now, $method:ident, $call:expr) => {
        $crate::shared::encode_result($method, &$call)
    };
    (wait, $method:ident, $call:expr) => {
        match $call {
            ::std::option::Option::Some(result) => $crate::shared::encode_result($method, &result),
            ::std::option::Option::None => ::std::result::Result::Ok(::std::option::Option::None),
        }
    };
}

/// The local side of one call.
#[doc(hidden)]
#[macro_export]
macro_rules! __shared_local_call {
    (now, $cell:expr, $m:ident, ($($a:ident),*)) => {
        $cell.with(move |value| value.$m($($a),*))
    };
    (wait, $cell:expr, $m:ident, ($($a:ident),*)) => {
        $cell.wait_for(|value| value.$m($(::std::clone::Clone::clone(&$a)),*))
    };
}
