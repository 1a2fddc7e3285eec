//! `krayin-etl lookups`: the names and ids a mapping can refer to (pipelines and stages,
//! sources, types, users, custom attributes), fetched in one request each. Also a quick check
//! that the URL and credentials work.

use std::process::ExitCode;

use super::api_args::ApiArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    api: ApiArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let conn = args.api.connect().await?;
        let l = conn.client.lookups().await?;
        if args.json {
            let v = serde_json::json!({
                "pipelines": l.pipelines, "sources": l.sources, "types": l.types,
                "users": l.users, "attributes": l.attributes,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!("Pipelines and stages:");
            for p in &l.pipelines {
                let default = if p.is_default == Some(1) {
                    " (default)"
                } else {
                    ""
                };
                println!("  {:>4}  {}{default}", p.id, p.name);
                for s in &p.stages {
                    println!(
                        "        {:>4}  {} [{}]",
                        s.id,
                        s.name,
                        s.code.as_deref().unwrap_or("")
                    );
                }
            }
            println!("Sources:");
            for s in &l.sources {
                println!("  {:>4}  {}", s.id, s.name);
            }
            println!("Types:");
            for t in &l.types {
                println!("  {:>4}  {}", t.id, t.name);
            }
            println!("Users:");
            for u in &l.users {
                println!("  {:>4}  {} <{}>", u.id, u.name, u.email);
            }
            let custom: Vec<_> = l
                .attributes
                .iter()
                .filter(|a| a.is_user_defined == Some(1))
                .collect();
            println!("Custom attributes:");
            if custom.is_empty() {
                println!("  (none)");
            }
            for a in custom {
                println!("  {:>4}  {}.{} ({})", a.id, a.entity_type, a.code, a.kind);
            }
        }
        if let Some(h) = conn.sandbox {
            h.shutdown().await?;
        }
        Ok(ExitCode::SUCCESS)
    })
}
