//! The macros of `cairn-sdk`: `#[contract]` on a storage struct and on its
//! `impl` block, and `#[derive(Event)]`. See `cairn-sdk`'s crate docs for
//! what they generate.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Error, Fields, FnArg, GenericArgument, ImplItem, ImplItemFn, Item, ItemImpl,
    ItemStruct, Pat, PathArguments, ReturnType, Type, Visibility, parse_macro_input,
};

/// Marks a contract: on a struct, its storage fields (each a
/// `cairn_sdk::storage::StorageField` such as `Value` or `Map`, placed at a
/// key derived from its name) and a `load()` constructor; on the struct's
/// `impl` block, its entry points (every `pub fn` taking `&self` or
/// `&mut self`), the `init` constructor (the method marked `#[init]`), the
/// ABI and a typed client `<Name>Ref`. An entry point marked `#[payable]`
/// (taking `&mut self`) accepts native value attached to the call; every
/// other one refuses it, aborting before it runs.
#[proc_macro_attribute]
pub fn contract(attribute: TokenStream, item: TokenStream) -> TokenStream {
    if !attribute.is_empty() {
        return Error::new(Span::call_site(), "#[contract] takes no arguments")
            .to_compile_error()
            .into();
    }
    let result = match parse_macro_input!(item as Item) {
        Item::Struct(item) => storage_struct(item),
        Item::Impl(item) => entry_points(item),
        other => Err(Error::new(
            other.span(),
            "#[contract] goes on the storage struct and on its impl block",
        )),
    };
    result.unwrap_or_else(Error::into_compile_error).into()
}

/// The key prefix of a field: its name, SCALE-encoded (a compact length,
/// then the bytes), so no field's prefix is a prefix of another's.
fn field_prefix(name: &str) -> Result<Vec<u8>, Error> {
    let length = name.len();
    let mut prefix = if length < 1 << 6 {
        vec![u8::try_from(length << 2).expect("under 2^8")]
    } else if length < 1 << 14 {
        let encoded = u16::try_from((length << 2) | 1).expect("under 2^16");
        encoded.to_le_bytes().to_vec()
    } else {
        return Err(Error::new(Span::call_site(), "field name too long"));
    };
    prefix.extend_from_slice(name.as_bytes());
    Ok(prefix)
}

fn storage_struct(item: ItemStruct) -> Result<Tokens, Error> {
    let Fields::Named(fields) = &item.fields else {
        return Err(Error::new(
            item.span(),
            "a contract's storage struct needs named fields (each names its storage)",
        ));
    };
    if !item.generics.params.is_empty() {
        return Err(Error::new(
            item.generics.span(),
            "a contract struct cannot be generic",
        ));
    }
    let name = &item.ident;
    let mut initialisers = Vec::new();
    for field in &fields.named {
        let ident = field.ident.as_ref().expect("named fields have names");
        let prefix = field_prefix(ident.to_string().trim_start_matches("r#"))?;
        let prefix = syn::LitByteStr::new(&prefix, ident.span());
        let ty = &field.ty;
        initialisers.push(quote! {
            #ident: <#ty as ::cairn_sdk::storage::StorageField>::at(#prefix)
        });
    }
    Ok(quote! {
        #item

        impl #name {
            /// The contract's storage fields, each at its key prefix.
            pub fn load() -> Self {
                #name { #(#initialisers,)* }
            }
        }

        impl ::core::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(::core::stringify!(#name))
            }
        }
    })
}

/// What an entry point returns.
enum Returns {
    Nothing,
    Value(Box<Type>),
    Result { ok: Box<Type>, error: Box<Type> },
}

struct Method {
    name: syn::Ident,
    export: String,
    mutates: bool,
    args: Vec<(syn::Ident, Type)>,
    returns: Returns,
    init: bool,
    payable: bool,
}

fn parse_returns(output: &ReturnType) -> Returns {
    let ReturnType::Type(_, ty) = output else {
        return Returns::Nothing;
    };
    if let Type::Tuple(tuple) = ty.as_ref()
        && tuple.elems.is_empty()
    {
        return Returns::Nothing;
    }
    if let Type::Path(path) = ty.as_ref()
        && let Some(last) = path.path.segments.last()
        && last.ident == "Result"
        && let PathArguments::AngleBracketed(arguments) = &last.arguments
    {
        let types: Vec<&Type> = arguments
            .args
            .iter()
            .filter_map(|argument| match argument {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect();
        if let [ok, error] = types[..] {
            return Returns::Result {
                ok: Box::new(ok.clone()),
                error: Box::new(error.clone()),
            };
        }
    }
    Returns::Value(ty.clone())
}

fn parse_method(function: &mut ImplItemFn) -> Result<Option<Method>, Error> {
    let init = take_attribute(&mut function.attrs, "init");
    let payable = take_attribute(&mut function.attrs, "payable");
    let public = matches!(function.vis, Visibility::Public(_));
    let receiver = function.sig.receiver().cloned();
    let Some(receiver) = receiver else {
        if init || payable {
            return Err(Error::new(
                function.sig.span(),
                "#[init] and #[payable] go on entry points, which take `&mut self`",
            ));
        }
        return Ok(None);
    };
    if !public && !init {
        if payable {
            return Err(Error::new(
                function.sig.span(),
                "#[payable] goes on entry points: make the method `pub`",
            ));
        }
        return Ok(None);
    }
    if receiver.reference.is_none() {
        return Err(Error::new(
            receiver.span(),
            "entry points take `&self` (a query) or `&mut self`",
        ));
    }
    let mutates = receiver.mutability.is_some();
    if init && !mutates {
        return Err(Error::new(receiver.span(), "#[init] needs `&mut self`"));
    }
    if payable && !mutates {
        return Err(Error::new(
            receiver.span(),
            "#[payable] needs `&mut self`: a read-only method cannot keep value",
        ));
    }
    if !function.sig.generics.params.is_empty() || function.sig.asyncness.is_some() {
        return Err(Error::new(
            function.sig.span(),
            "entry points cannot be generic or async",
        ));
    }
    let mut args = Vec::new();
    for input in function.sig.inputs.iter().skip(1) {
        let FnArg::Typed(typed) = input else {
            continue;
        };
        let Pat::Ident(pattern) = typed.pat.as_ref() else {
            return Err(Error::new(typed.pat.span(), "name each argument"));
        };
        if matches!(typed.ty.as_ref(), Type::Reference(_)) {
            return Err(Error::new(
                typed.ty.span(),
                "arguments are decoded from the input: take them by value",
            ));
        }
        args.push((pattern.ident.clone(), typed.ty.as_ref().clone()));
    }
    let name = function.sig.ident.clone();
    Ok(Some(Method {
        export: if init {
            "init".to_owned()
        } else {
            name.to_string()
        },
        name,
        mutates,
        args,
        returns: parse_returns(&function.sig.output),
        init,
        payable,
    }))
}

fn take_attribute(attributes: &mut Vec<syn::Attribute>, name: &str) -> bool {
    let before = attributes.len();
    attributes.retain(|attribute| !attribute.path().is_ident(name));
    attributes.len() != before
}

/// A type as the ABI names it: its tokens without spaces.
fn type_name(ty: &Type) -> String {
    quote!(#ty)
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

fn json_string(text: &str) -> String {
    let mut escaped = String::from("\"");
    for character in text.chars() {
        match character {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            other => escaped.push(other),
        }
    }
    escaped.push('"');
    escaped
}

fn method_json(method: &Method) -> String {
    let args: Vec<String> = method
        .args
        .iter()
        .map(|(name, ty)| {
            format!(
                "{{\"name\":{},\"type\":{}}}",
                json_string(&name.to_string()),
                json_string(&type_name(ty))
            )
        })
        .collect();
    let returns = match &method.returns {
        Returns::Nothing => "\"returns\":null".to_owned(),
        Returns::Value(ty) => format!("\"returns\":{}", json_string(&type_name(ty))),
        Returns::Result { ok, error } => format!(
            "\"returns\":{},\"error\":{}",
            json_string(&type_name(ok)),
            json_string(&type_name(error))
        ),
    };
    format!(
        "{{\"name\":{},\"mutates\":{},\"payable\":{},\"args\":[{}],{}}}",
        json_string(&method.export),
        method.mutates,
        method.payable,
        args.join(","),
        returns
    )
}

fn entry_points(mut item: ItemImpl) -> Result<Tokens, Error> {
    if item.trait_.is_some() {
        return Err(Error::new(
            item.span(),
            "#[contract] goes on an inherent impl block",
        ));
    }
    let Type::Path(self_path) = item.self_ty.as_ref() else {
        return Err(Error::new(
            item.self_ty.span(),
            "#[contract] needs the contract's struct",
        ));
    };
    let contract = self_path
        .path
        .segments
        .last()
        .expect("a path has a segment")
        .ident
        .clone();
    let mut methods = Vec::new();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(function) = impl_item
            && let Some(method) = parse_method(function)?
        {
            methods.push(method);
        }
    }
    let inits = methods.iter().filter(|method| method.init).count();
    if inits > 1 {
        return Err(Error::new(item.span(), "only one method can be #[init]"));
    }
    for method in &methods {
        if !method.init && method.export == "init" {
            return Err(Error::new(
                method.name.span(),
                "`init` is the constructor's entry point: mark the method #[init] or rename it",
            ));
        }
    }

    let exports = methods.iter().map(|method| export(&contract, method));
    let default_init = (inits == 0).then(|| {
        quote! {
            #[unsafe(export_name = "init")]
            extern "C" fn __cairn_entry_init() {
                ::cairn_sdk::runtime::entry(::cairn_sdk::runtime::Mutability::Mutates, |input| {
                    ::cairn_sdk::runtime::refuse_value("init");
                    ::cairn_sdk::runtime::begin_init();
                    let () = ::cairn_sdk::runtime::decode_args(input);
                });
            }
        }
    });

    let mut json = format!(
        "{{\"contract\":{},\"methods\":[",
        json_string(&contract.to_string())
    );
    if inits == 0 {
        json.push_str(
            "{\"name\":\"init\",\"mutates\":true,\"payable\":false,\"args\":[],\"returns\":null}",
        );
        if !methods.is_empty() {
            json.push(',');
        }
    }
    json.push_str(
        &methods
            .iter()
            .map(method_json)
            .collect::<Vec<_>>()
            .join(","),
    );
    json.push_str("]}\n");
    let abi_bytes = syn::LitByteStr::new(json.as_bytes(), Span::call_site());
    let abi_length = json.len();

    let client = client(&contract, &methods);
    Ok(quote! {
        #item

        #[cfg(not(feature = "library"))]
        const _: () = {
            #(#exports)*
            #default_init

            // The ABI, for `cargo cairn build` to extract; the build strips
            // custom sections from the deployed code.
            #[cfg(target_arch = "wasm32")]
            #[unsafe(link_section = "cairn_abi")]
            #[used]
            static __CAIRN_ABI: [u8; #abi_length] = *#abi_bytes;
        };

        #client
    })
}

fn export(contract: &syn::Ident, method: &Method) -> Tokens {
    let name = &method.name;
    let export = &method.export;
    let function = format_ident!("__cairn_entry_{}", method.export);
    let mutability = if method.mutates {
        quote!(::cairn_sdk::runtime::Mutability::Mutates)
    } else {
        quote!(::cairn_sdk::runtime::Mutability::ReadOnly)
    };
    let arg_names: Vec<_> = method.args.iter().map(|(name, _)| name).collect();
    let arg_types: Vec<_> = method.args.iter().map(|(_, ty)| ty).collect();
    let begin_init = method
        .init
        .then(|| quote!(::cairn_sdk::runtime::begin_init();));
    let refuse_value =
        (!method.payable).then(|| quote!(::cairn_sdk::runtime::refuse_value(#export);));
    let receiver = if method.mutates {
        quote!(let mut contract = #contract::load();)
    } else {
        quote!(let contract = #contract::load();)
    };
    let finish = match method.returns {
        Returns::Nothing => quote!(let () = contract.#name(#(#arg_names),*);),
        Returns::Value(_) => quote! {
            let value = contract.#name(#(#arg_names),*);
            ::cairn_sdk::runtime::return_value(&value);
        },
        Returns::Result { .. } => quote! {
            let result = contract.#name(#(#arg_names),*);
            ::cairn_sdk::runtime::return_result(&result);
        },
    };
    quote! {
        #[unsafe(export_name = #export)]
        extern "C" fn #function() {
            ::cairn_sdk::runtime::entry(#mutability, |input| {
                #refuse_value
                #begin_init
                let (#(#arg_names,)*): (#(#arg_types,)*) = ::cairn_sdk::runtime::decode_args(input);
                #receiver
                #finish
            });
        }
    }
}

fn client(contract: &syn::Ident, methods: &[Method]) -> Tokens {
    let client = format_ident!("{}Ref", contract);
    let doc = format!("A typed client of a deployed `{contract}`, for calls from other contracts.");
    let functions = methods.iter().filter(|method| !method.init).map(|method| {
        let name = &method.name;
        let export = &method.export;
        let args: Vec<_> = method
            .args
            .iter()
            .map(|(name, ty)| quote!(#name: #ty))
            .collect();
        let arg_names: Vec<_> = method.args.iter().map(|(name, _)| name).collect();
        let (ok, error) = match &method.returns {
            Returns::Nothing => (quote!(()), quote!(::cairn_sdk::call::NoError)),
            Returns::Value(ty) => (quote!(#ty), quote!(::cairn_sdk::call::NoError)),
            Returns::Result { ok, error } => (quote!(#ok), quote!(#error)),
        };
        quote! {
            pub fn #name(&self, #(#args),*) -> ::core::result::Result<#ok, ::cairn_sdk::call::CallError<#error>> {
                ::cairn_sdk::call::call_with_value::<#ok, #error>(&self.address, #export, &(#(#arg_names,)*), self.gas, self.value)
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct #client {
            pub address: ::cairn_sdk::Address,
            /// Gas each call may use; `u64::MAX` (the default) gives all
            /// that is left.
            pub gas: u64,
            /// Native value each call sends along, from the calling
            /// contract (0 by default); only `#[payable]` methods take it.
            pub value: u128,
        }

        impl #client {
            pub fn at(address: ::cairn_sdk::Address) -> Self {
                #client { address, gas: u64::MAX, value: 0 }
            }

            pub fn with_gas(self, gas: u64) -> Self {
                #client { gas, ..self }
            }

            pub fn with_value(self, value: u128) -> Self {
                #client { value, ..self }
            }

            #(#functions)*
        }
    }
}

/// An event: implements `cairn_sdk::Event` with the type's name as topic,
/// and adds the event's fields to the ABI.
#[proc_macro_derive(Event)]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let name = &input.ident;
    let topic = name.to_string();
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let fields = match &input.data {
        Data::Struct(data) => data
            .fields
            .iter()
            .enumerate()
            .map(|(index, field)| {
                let field_name = field
                    .ident
                    .as_ref()
                    .map_or_else(|| index.to_string(), ToString::to_string);
                format!(
                    "{{\"name\":{},\"type\":{}}}",
                    json_string(&field_name),
                    json_string(&type_name(&field.ty))
                )
            })
            .collect::<Vec<_>>(),
        _ => {
            return Error::new(input.span(), "events are structs")
                .to_compile_error()
                .into();
        }
    };
    let json = format!(
        "{{\"event\":{},\"fields\":[{}]}}\n",
        json_string(&topic),
        fields.join(",")
    );
    let abi_bytes = syn::LitByteStr::new(json.as_bytes(), Span::call_site());
    let abi_length = json.len();
    let abi_static = format_ident!("__CAIRN_EVENT_ABI_{}", name);
    quote! {
        impl #impl_generics ::cairn_sdk::Event for #name #type_generics #where_clause {
            const TOPIC: &'static str = #topic;
        }

        #[cfg(all(target_arch = "wasm32", not(feature = "library")))]
        #[unsafe(link_section = "cairn_abi_events")]
        #[used]
        #[allow(non_upper_case_globals)]
        static #abi_static: [u8; #abi_length] = *#abi_bytes;
    }
    .into()
}
