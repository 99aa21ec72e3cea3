//! The built-in demo workspace: a small company's Notion as an analytics engineer would meet
//! it — a CRM (Companies, Contacts, Deals using every property type, formula and rollup variants,
//! a relation with more than 25 targets), Projects (a database with two data sources) and Tasks,
//! meeting notes with nested blocks of every type and comments, several users and bots, a page
//! only reachable by crawling, a trashed row and an unshared page.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::workspace::{
    FParent, Workspace, annotations, bold, link, mention_user, prop, rt, rt_array,
};

/// The demo's generation start instant.
pub fn demo_epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-09-01T08:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now())
}

fn options(names: &[&str]) -> Value {
    const COLORS: [&str; 10] = [
        "default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red",
    ];
    let opts: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"id": format!("opt-{}", n.to_lowercase().replace(' ', "-")), "name": n, "color": COLORS[(i + 1) % 10], "description": null}))
        .collect();
    json!({"options": opts})
}

fn option_value(name: &str) -> Value {
    let o = options(&[name]);
    let mut v = o["options"][0].clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("description");
    }
    v
}

fn date(start: &str, end: Option<&str>, tz: Option<&str>) -> Value {
    json!({"start": start, "end": end, "time_zone": tz})
}

fn person(id: &str) -> Value {
    json!({"object": "user", "id": id})
}

fn mention_page(id: &str, title: &str) -> Value {
    json!({"type": "mention", "mention": {"type": "page", "page": {"id": id}},
           "annotations": annotations(false, false, false), "plain_text": title,
           "href": format!("https://www.notion.so/{}", id.replace('-', ""))})
}

fn rich(text: &str) -> Value {
    json!({"rich_text": rt_array(text), "color": "default"})
}

/// Ids of the demo's notable objects, for tests.
#[derive(Debug, Clone, Default)]
pub struct DemoIds {
    /// The shared root page.
    pub root: String,
    /// People, by first name (lowercase).
    pub people: HashMap<String, String>,
    /// Data source ids by name.
    pub data_sources: HashMap<String, String>,
    /// Database ids by title.
    pub databases: HashMap<String, String>,
    /// The deal whose Stakeholders relation has more than 25 targets.
    pub big_deal: String,
    /// A page reachable only through a child_page block (absent from search).
    pub crawl_only_page: String,
    /// A page not shared with the integration.
    pub unshared_page: String,
    /// The page holding one block of every type.
    pub block_gallery: String,
    /// A toggle with 150 children.
    pub wide_block: String,
    /// A meeting-notes page (with page and block comments).
    pub meeting_pages: Vec<String>,
    /// The team handbook (a knowledge-base page with every rich-text case).
    pub handbook: String,
}

/// Builds the demo workspace and returns it with the ids tests need.
pub fn demo_workspace() -> (Workspace, DemoIds) {
    let mut ws = Workspace::new("Acme Robotics", 42, demo_epoch());
    let mut ids = DemoIds::default();
    let people = [
        ("Ada Lovelace", "ada@acme.example"),
        ("Grace Hopper", "grace@acme.example"),
        ("Alan Turing", "alan@acme.example"),
        ("Katherine Johnson", "katherine@acme.example"),
        ("Linus Torvalds", "linus@acme.example"),
    ];
    for (name, email) in people {
        let id = ws.add_person(name, email);
        let first = name.split(' ').next().unwrap_or(name).to_lowercase();
        ids.people.insert(first, id);
    }
    ws.add_bot("Zapier");
    let p = |k: &str| ids.people.get(k).cloned().unwrap_or_default();
    let (ada, grace, alan, katherine, linus) =
        (p("ada"), p("grace"), p("alan"), p("katherine"), p("linus"));
    let team = [
        ada.clone(),
        grace.clone(),
        alan.clone(),
        katherine.clone(),
        linus.clone(),
    ];

    let root = ws.add_page(FParent::Workspace, "Acme HQ", &ada);
    if let Some(r) = ws.page_mut(&root) {
        r.shared = true;
        r.icon = json!({"type": "emoji", "emoji": "🏢"});
        r.cover = json!({"type": "external", "external": {"url": "https://images.example.com/acme-cover.png"}});
    }
    ids.root = root.clone();

    build_crm(&mut ws, &mut ids, &root, &team);
    build_projects(&mut ws, &mut ids, &root, &team);
    build_meetings(&mut ws, &mut ids, &root, &team);
    let crm_page = ws
        .pages
        .iter()
        .find(|p| p.title.pointer("/0/plain_text").and_then(Value::as_str) == Some("CRM"))
        .map(|p| p.id.clone())
        .unwrap_or_default();
    let deals_database = ids.databases.get("Deals").cloned().unwrap_or_default();
    ids.handbook = super::handbook::build_handbook(
        &mut ws,
        &root,
        &super::handbook::HandbookLinks {
            crm_page: &crm_page,
            deals_database: &deals_database,
            author: &grace,
            colleague: &ada,
        },
    );

    // A page that search misses but a crawl finds.
    let archive = ws.add_page(FParent::Page(root.clone()), "Archive", &grace);
    let old = ws.add_page(FParent::Page(archive.clone()), "2025 offsite notes", &grace);
    for id in [&archive, &old] {
        if let Some(pg) = ws.page_mut(id) {
            pg.searchable = false;
        }
    }
    let note = ws.add_block(
        &old,
        "paragraph",
        rich("We agreed to ship the arm controller by spring."),
        &grace,
    );
    // Written last year and never touched since: the stale document of the demo.
    let written = DateTime::parse_from_rfc3339("2025-11-14T16:20:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| demo_epoch());
    if let Some(pg) = ws.page_mut(&old) {
        pg.created_time = written;
        pg.last_edited_time = written;
    }
    if let Some(b) = ws.blocks.get_mut(&note) {
        b.created_time = written;
        b.last_edited_time = written;
    }
    ids.crawl_only_page = old;

    // Not shared with the integration: invisible everywhere.
    let private = ws.add_page(FParent::Workspace, "Linus's private notes", &linus);
    ws.add_block(&private, "paragraph", rich("Salary thoughts."), &linus);
    ids.unshared_page = private;

    (ws, ids)
}

fn build_crm(ws: &mut Workspace, ids: &mut DemoIds, root: &str, team: &[String; 5]) {
    let [ada, grace, alan, _, _] = team.clone();
    let crm = ws.add_page(FParent::Page(root.into()), "CRM", &ada);
    ws.add_block(
        &crm,
        "paragraph",
        rich("Our customer pipeline. Owners update deals every Friday."),
        &ada,
    );

    let companies_schema = vec![
        prop("title", "Name", "title", json!({})),
        prop(
            "c%3Ain",
            "Industry",
            "select",
            options(&["Manufacturing", "Logistics", "Healthcare", "Retail"]),
        ),
        prop(
            "c%3Emp",
            "Employees",
            "number",
            json!({"format": "number_with_commas"}),
        ),
        prop("cW%3Fb", "Website", "url", json!({})),
        prop("cFnd", "Founded", "date", json!({})),
        prop("cHQ", "HQ", "place", json!({})),
    ];
    let contacts_schema = vec![
        prop("title", "Name", "title", json!({})),
        prop("k%40em", "Email", "email", json!({})),
        prop("kPh", "Phone", "phone_number", json!({})),
        prop(
            "kRole",
            "Role",
            "select",
            options(&["Buyer", "Champion", "Engineer", "Executive"]),
        ),
        prop("kOwn", "Account owner", "people", json!({})),
    ];
    let (_, cds) = ws.add_database(
        &crm,
        "Companies",
        &ada,
        vec![("Companies".into(), companies_schema)],
    );
    let (_, kds) = ws.add_database(
        &crm,
        "Contacts",
        &ada,
        vec![("Contacts".into(), contacts_schema)],
    );
    let (companies_ds, contacts_ds) = (cds[0].clone(), kds[0].clone());

    let company_names = [
        ("Globex", "Manufacturing", 5200.0, "1989-04-01"),
        ("Initech", "Logistics", 830.0, "1999-02-19"),
        ("Umbrella Health", "Healthcare", 12000.0, "1996-03-22"),
        ("Soylent Retail", "Retail", 410.0, "2011-07-01"),
        ("Hooli Robotics", "Manufacturing", 2600.0, "2004-10-10"),
        ("Vandelay Imports", "Logistics", 75.0, "1995-05-05"),
    ];
    let mut companies = Vec::new();
    for (i, (name, industry, employees, founded)) in company_names.iter().enumerate() {
        let values = vec![
            ("title", rt_array(name)),
            ("c%3Ain", option_value(industry)),
            ("c%3Emp", json!(employees)),
            (
                "cW%3Fb",
                json!(format!(
                    "https://{}.example",
                    name.to_lowercase().replace(' ', "-")
                )),
            ),
            ("cFnd", date(founded, None, None)),
            (
                "cHQ",
                if i % 2 == 0 {
                    json!({"lat": 47.3769 + i as f64, "lon": 8.5417, "name": format!("{name} HQ"), "address": "Bahnhofstrasse 1, Zürich", "aws_place_id": null, "google_place_id": "ChIJGaK-SZcLkEcRA9wf5_GNbuY"})
                } else {
                    Value::Null
                },
            ),
        ];
        companies.push(ws.add_row(&companies_ds, &team[i % 5], values));
    }

    let roles = ["Buyer", "Champion", "Engineer", "Executive"];
    let mut contacts = Vec::new();
    for i in 0..40 {
        let name = format!("Contact {:02}", i + 1);
        let email = if i % 7 == 3 {
            Value::Null
        } else {
            json!(format!("contact{:02}@customer.example", i + 1))
        };
        let values = vec![
            ("title", rt_array(&name)),
            ("k%40em", email),
            (
                "kPh",
                if i % 5 == 0 {
                    Value::Null
                } else {
                    json!(format!("+41 44 555 {:02} {:02}", i, i * 3 % 100))
                },
            ),
            ("kRole", option_value(roles[i % 4])),
            ("kOwn", json!([person(&team[i % 5])])),
        ];
        contacts.push(ws.add_row(&contacts_ds, &team[i % 5], values));
    }

    // Relations between Companies, Contacts and Deals, added once every data source exists.
    let deals_schema = vec![
        prop("title", "Name", "title", json!({})),
        prop("dAmt", "Amount", "number", json!({"format": "dollar"})),
        prop("dStg", "Stage", "status", {
            let mut o = options(&["Lead", "Qualified", "Proposal", "Won", "Lost"]);
            o["groups"] = json!([
                {"id": "grp-todo", "name": "To-do", "color": "gray", "option_ids": ["opt-lead"]},
                {"id": "grp-prog", "name": "In progress", "color": "blue", "option_ids": ["opt-qualified", "opt-proposal"]},
                {"id": "grp-done", "name": "Complete", "color": "green", "option_ids": ["opt-won", "opt-lost"]}
            ]);
            o
        }),
        prop(
            "dPri",
            "Priority",
            "select",
            options(&["High", "Medium", "Low"]),
        ),
        prop(
            "dTag",
            "Tags",
            "multi_select",
            options(&["Enterprise", "Renewal", "Upsell", "Pilot"]),
        ),
        prop("dCls", "Close date", "date", json!({})),
        prop("dOwn", "Owner", "people", json!({})),
        prop(
            "dStk",
            "Stakeholders",
            "relation",
            json!({"database_id": "", "data_source_id": contacts_ds, "type": "single_property", "single_property": {}}),
        ),
        prop(
            "dCo",
            "Company",
            "relation",
            json!({"database_id": "", "data_source_id": companies_ds, "type": "dual_property", "dual_property": {"synced_property_id": "cDeals", "synced_property_name": "Deals"}}),
        ),
        prop("dFil", "Contract", "files", json!({})),
        prop("dSgn", "Signed", "checkbox", json!({})),
        prop("dUrl", "Deal room", "url", json!({})),
        prop("dEml", "Billing email", "email", json!({})),
        prop("dPhn", "Billing phone", "phone_number", json!({})),
        prop("dNts", "Notes", "rich_text", json!({})),
        prop(
            "dWgt",
            "Weighted value",
            "formula",
            json!({"expression": "{{notion:block_property:dAmt:00000000-0000-0000-0000-000000000000:0}} * 0.4"}),
        ),
        prop(
            "dSum",
            "Summary",
            "formula",
            json!({"expression": "format(prop(\"Stage\"))"}),
        ),
        prop(
            "dBig",
            "Is large",
            "formula",
            json!({"expression": "prop(\"Amount\") > 50000"}),
        ),
        prop(
            "dFup",
            "Follow-up",
            "formula",
            json!({"expression": "dateAdd(prop(\"Close date\"), 7, \"days\")"}),
        ),
        prop(
            "dCsz",
            "Company size",
            "rollup",
            json!({"relation_property_name": "Company", "relation_property_id": "dCo", "rollup_property_name": "Employees", "rollup_property_id": "c%3Emp", "function": "sum"}),
        ),
        prop(
            "dCfd",
            "Company founded",
            "rollup",
            json!({"relation_property_name": "Company", "relation_property_id": "dCo", "rollup_property_name": "Founded", "rollup_property_id": "cFnd", "function": "earliest_date"}),
        ),
        prop(
            "dSkn",
            "Stakeholder names",
            "rollup",
            json!({"relation_property_name": "Stakeholders", "relation_property_id": "dStk", "rollup_property_name": "Name", "rollup_property_id": "title", "function": "show_original"}),
        ),
        prop("dCrt", "Created", "created_time", json!({})),
        prop("dCby", "Created by", "created_by", json!({})),
        prop("dEdt", "Last edited", "last_edited_time", json!({})),
        prop("dEby", "Last edited by", "last_edited_by", json!({})),
        prop("dId", "Deal ID", "unique_id", json!({"prefix": "DEAL"})),
        prop("dVer", "Verification", "verification", json!({})),
        prop("dBtn", "Send quote", "button", json!({})),
        prop("dPlc", "Meeting place", "place", json!({})),
    ];
    let (deals_db, dds) =
        ws.add_database(&crm, "Deals", &ada, vec![("Deals".into(), deals_schema)]);
    let deals_ds = dds[0].clone();
    // Relation configs name the target databases.
    let db_of = |ws: &Workspace, ds: &str| {
        ws.data_sources
            .get(ds)
            .map(|d| d.database_id.clone())
            .unwrap_or_default()
    };
    let (companies_db, contacts_db) = (db_of(ws, &companies_ds), db_of(ws, &contacts_ds));
    if let Some(ds) = ws.data_sources.get_mut(&deals_ds) {
        for p in &mut ds.properties {
            match p.id.as_str() {
                "dStk" => p.config["database_id"] = json!(contacts_db),
                "dCo" => p.config["database_id"] = json!(companies_db),
                _ => {}
            }
        }
    }
    if let Some(ds) = ws.data_sources.get_mut(&companies_ds) {
        ds.properties.push(prop("cDeals", "Deals", "relation", json!({"database_id": deals_db, "data_source_id": deals_ds, "type": "dual_property", "dual_property": {"synced_property_id": "dCo", "synced_property_name": "Company"}})));
        ds.properties.push(prop("cPipe", "Pipeline", "rollup", json!({"relation_property_name": "Deals", "relation_property_id": "cDeals", "rollup_property_name": "Amount", "rollup_property_id": "dAmt", "function": "sum"})));
    }

    let stages = ["Lead", "Qualified", "Proposal", "Won", "Lost"];
    let priorities = ["High", "Medium", "Low"];
    let tags = ["Enterprise", "Renewal", "Upsell", "Pilot"];
    let founded: HashMap<&str, &str> = company_names.iter().map(|c| (c.0, c.3)).collect();
    let employees: HashMap<&str, f64> = company_names.iter().map(|c| (c.0, c.2)).collect();
    let mut deal_ids = Vec::new();
    let mut pipeline: HashMap<usize, (Vec<Value>, f64)> = HashMap::new();
    for i in 0..24usize {
        let company_idx = i % companies.len();
        let company_name = company_names[company_idx].0;
        let amount = if i == 5 {
            None
        } else {
            Some(((i * 7919) % 90 + 5) as f64 * 1000.0)
        };
        let stakeholders: Vec<String> = if i == 0 {
            contacts.iter().take(30).cloned().collect()
        } else {
            contacts
                .iter()
                .skip(i)
                .step_by(9)
                .take(i % 4)
                .cloned()
                .collect()
        };
        let names: Vec<Value> = stakeholders
            .iter()
            .map(|c| {
                let n = contacts.iter().position(|x| x == c).unwrap_or(0) + 1;
                json!({"type": "title", "title": [rt(&format!("Contact {n:02}"))]})
            })
            .collect();
        let close = match i % 4 {
            0 => date(&format!("2026-{:02}-{:02}", 9 + i % 4, 1 + i), None, None),
            1 => date(
                &format!("2026-{:02}-{:02}T14:30:00.000+02:00", 9 + i % 4, 1 + i),
                None,
                None,
            ),
            2 => date(
                &format!("2026-{:02}-01", 10 + i % 3),
                Some(&format!("2026-{:02}-15", 10 + i % 3)),
                None,
            ),
            _ => date(
                &format!("2026-11-{:02}T09:00:00.000", 1 + i),
                None,
                Some("Europe/Zurich"),
            ),
        };
        let stage = stages[i % 5];
        let title = if i == 1 {
            json!([
                bold("Initech"),
                rt(" renewal with "),
                mention_user(&grace, "Grace Hopper")
            ])
        } else {
            rt_array(&format!("{company_name} — deal {}", i + 1))
        };
        let notes = if i % 3 == 0 {
            json!([
                rt("Spoke with procurement; see "),
                link("the brief", "https://docs.example.com/brief"),
                rt(". Next: "),
                mention_page(&crm, "CRM")
            ])
        } else if i % 3 == 1 {
            json!([])
        } else {
            rt_array("Waiting on legal review.")
        };
        let weighted = amount.map(|a| a * 0.4);
        // Deal 10 has no close date, so no follow-up either.
        let follow_up = Some(&close)
            .filter(|_| i != 9)
            .and_then(|c| c.get("start"))
            .and_then(Value::as_str)
            .and_then(|s| s.get(0..10))
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .map(|d| (d + Duration::days(7)).format("%Y-%m-%d").to_string());
        let owners = if i == 2 {
            json!([person(&team[i % 5]), {"object": "group", "id": "5a8b1c2d-0000-4000-8000-00000000aaaa", "name": "Sales team"}])
        } else if i == 7 {
            json!([])
        } else {
            json!([person(&team[i % 5])])
        };
        let values = vec![
            ("title", title),
            ("dAmt", amount.map_or(Value::Null, |a| json!(a))),
            ("dStg", option_value(stage)),
            (
                "dPri",
                if i % 6 == 5 {
                    Value::Null
                } else {
                    option_value(priorities[i % 3])
                },
            ),
            (
                "dTag",
                json!(
                    tags.iter()
                        .enumerate()
                        .filter(|(k, _)| (i >> k) & 1 == 1)
                        .map(|(_, t)| option_value(t))
                        .collect::<Vec<_>>()
                ),
            ),
            ("dCls", if i == 9 { Value::Null } else { close }),
            ("dOwn", owners),
            (
                "dStk",
                json!(
                    stakeholders
                        .iter()
                        .map(|c| json!({"id": c}))
                        .collect::<Vec<_>>()
                ),
            ),
            ("dCo", json!([{"id": companies[company_idx]}])),
            (
                "dFil",
                if i % 4 == 0 {
                    json!([
                        {"name": "contract.pdf", "type": "file", "file": {"url": format!("https://prod-files-secure.s3.us-west-2.amazonaws.com/acme/contract-{i}.pdf?X-Amz-Expires=3600"), "expiry_time": "2026-09-30T09:00:00.000Z"}},
                        {"name": "https://drive.example.com/sow", "type": "external", "external": {"url": "https://drive.example.com/sow"}}
                    ])
                } else {
                    json!([])
                },
            ),
            ("dSgn", json!(stage == "Won")),
            (
                "dUrl",
                if i % 2 == 0 {
                    json!(format!("https://rooms.example.com/deal-{}", i + 1))
                } else {
                    Value::Null
                },
            ),
            (
                "dEml",
                json!(format!(
                    "billing@{}.example",
                    company_name.to_lowercase().replace(' ', "-")
                )),
            ),
            (
                "dPhn",
                if i % 3 == 0 {
                    json!("+1 (555) 010-2000")
                } else {
                    Value::Null
                },
            ),
            ("dNts", notes),
            ("dWgt", json!({"type": "number", "number": weighted})),
            (
                "dSum",
                json!({"type": "string", "string": format!("{stage} · {company_name}")}),
            ),
            (
                "dBig",
                json!({"type": "boolean", "boolean": amount.is_some_and(|a| a > 50000.0)}),
            ),
            (
                "dFup",
                json!({"type": "date", "date": follow_up.map(|d| date(&d, None, None))}),
            ),
            (
                "dCsz",
                json!({"type": "number", "number": employees.get(company_name), "function": "sum"}),
            ),
            (
                "dCfd",
                json!({"type": "date", "date": founded.get(company_name).map(|d| date(d, None, None)), "function": "earliest_date"}),
            ),
            (
                "dSkn",
                json!({"type": "array", "array": names, "function": "show_original"}),
            ),
            ("dId", json!({"prefix": "DEAL", "number": i + 1})),
            (
                "dVer",
                match i % 3 {
                    0 => {
                        json!({"state": "verified", "date": date("2026-09-01T00:00:00.000Z", Some("2026-12-01T00:00:00.000Z"), None), "verified_by": person(&ada)})
                    }
                    1 => json!({"state": "unverified", "date": null, "verified_by": null}),
                    _ => Value::Null,
                },
            ),
            ("dBtn", json!({})),
            (
                "dPlc",
                if i % 5 == 0 {
                    json!({"lat": 40.7128, "lon": -74.006, "name": "Client office", "address": "1 World Trade Center, New York", "aws_place_id": null, "google_place_id": null})
                } else {
                    Value::Null
                },
            ),
        ];
        let id = ws.add_row(&deals_ds, &team[i % 5], values);
        if i % 4 == 1 {
            ws.touch_page(&id, &team[(i + 2) % 5]);
        }
        let entry = pipeline.entry(company_idx).or_insert((Vec::new(), 0.0));
        entry.0.push(json!({"id": id}));
        entry.1 += amount.unwrap_or(0.0);
        deal_ids.push(id);
    }
    ids.big_deal = deal_ids[0].clone();
    // A trashed deal: excluded from queries unless in_trash is asked for.
    let trashed = ws.add_row(
        &deals_ds,
        &alan,
        vec![
            ("title", rt_array("Cancelled pilot")),
            ("dAmt", json!(1000.0)),
            ("dId", json!({"prefix": "DEAL", "number": 25})),
        ],
    );
    if let Some(pg) = ws.page_mut(&trashed) {
        pg.in_trash = true;
    }
    for (idx, company) in companies.iter().enumerate() {
        let (rel, sum) = pipeline.remove(&idx).unwrap_or_default();
        if let Some(pg) = ws.page_mut(company) {
            pg.properties.insert("cDeals".into(), Value::Array(rel));
            pg.properties.insert(
                "cPipe".into(),
                json!({"type": "number", "number": sum, "function": "sum"}),
            );
        }
    }
    ids.data_sources.insert("Companies".into(), companies_ds);
    ids.data_sources.insert("Contacts".into(), contacts_ds);
    ids.data_sources.insert("Deals".into(), deals_ds);
    ids.databases.insert("Deals".into(), deals_db);
}

fn build_projects(ws: &mut Workspace, ids: &mut DemoIds, root: &str, team: &[String; 5]) {
    let owner = team[1].clone();
    let page = ws.add_page(FParent::Page(root.into()), "Projects", &owner);
    // A cover and an icon uploaded to Notion (hosted files, signed anew on every read).
    if let Some(p) = ws.page_mut(&page) {
        let hosted = |name: &str| json!({"type": "file", "file": {"url": format!("https://prod-files-secure.s3.us-west-2.amazonaws.com/acme/{name}?X-Amz-Expires=3600"), "expiry_time": "2026-09-30T09:00:00.000Z"}});
        p.cover = hosted("projects-cover.jpg");
        p.icon = hosted("projects-icon.png");
    }
    let projects_schema = vec![
        prop("title", "Name", "title", json!({})),
        prop("pLead", "Lead", "people", json!({})),
        prop(
            "pSt",
            "Status",
            "select",
            options(&["Planned", "Active", "Done"]),
        ),
        prop("pWin", "Timeline", "date", json!({})),
    ];
    let milestones_schema = vec![
        prop("title", "Milestone", "title", json!({})),
        prop("mDue", "Due", "date", json!({})),
        prop("mOk", "Reached", "checkbox", json!({})),
    ];
    let (projects_db, pds) = ws.add_database(
        &page,
        "Projects",
        &owner,
        vec![
            ("Projects".into(), projects_schema),
            ("Milestones".into(), milestones_schema),
        ],
    );
    let (projects_ds, milestones_ds) = (pds[0].clone(), pds[1].clone());
    // The page's icon uploaded again as the database's: another key, the same bytes.
    if let Some(db) = ws.databases.get_mut(&projects_db) {
        db.icon = json!({"type": "file", "file": {"url": "https://prod-files-secure.s3.us-west-2.amazonaws.com/acme/again/projects-icon.png?X-Amz-Expires=3600", "expiry_time": "2026-09-30T09:00:00.000Z"}});
    }
    let names = [
        "Arm controller v2",
        "Warehouse pilot",
        "Vision model refresh",
        "Website relaunch",
    ];
    let statuses = ["Active", "Active", "Planned", "Done"];
    let mut projects = Vec::new();
    for (i, n) in names.iter().enumerate() {
        projects.push(ws.add_row(
            &projects_ds,
            &owner,
            vec![
                ("title", rt_array(n)),
                ("pLead", json!([person(&team[i % 5])])),
                ("pSt", option_value(statuses[i])),
                (
                    "pWin",
                    date(
                        &format!("2026-{:02}-01", 7 + i),
                        Some(&format!("2026-{:02}-28", 10 + i)),
                        None,
                    ),
                ),
            ],
        ));
    }
    for i in 0..6 {
        ws.add_row(
            &milestones_ds,
            &owner,
            vec![
                ("title", rt_array(&format!("Milestone {}", i + 1))),
                (
                    "mDue",
                    date(&format!("2026-{:02}-15", 8 + i % 4), None, None),
                ),
                ("mOk", json!(i < 3)),
            ],
        );
    }
    let tasks_schema = vec![
        prop("title", "Task", "title", json!({})),
        prop("tSt", "Status", "status", {
            let mut o = options(&["Not started", "In progress", "Done"]);
            o["groups"] = json!([
                {"id": "tg-todo", "name": "To-do", "color": "gray", "option_ids": ["opt-not-started"]},
                {"id": "tg-prog", "name": "In progress", "color": "blue", "option_ids": ["opt-in-progress"]},
                {"id": "tg-done", "name": "Complete", "color": "green", "option_ids": ["opt-done"]}
            ]);
            o
        }),
        prop("tAsg", "Assignee", "people", json!({})),
        prop("tDue", "Due", "date", json!({})),
        prop(
            "tPrj",
            "Project",
            "relation",
            json!({"database_id": projects_db, "data_source_id": projects_ds, "type": "single_property", "single_property": {}}),
        ),
        prop(
            "tEst",
            "Estimate (h)",
            "number",
            json!({"format": "number"}),
        ),
        prop(
            "tTag",
            "Tags",
            "multi_select",
            options(&["bug", "feature", "chore"]),
        ),
        prop("tId", "Task ID", "unique_id", json!({"prefix": "TASK"})),
        prop("tDone", "Completed on", "date", json!({})),
        prop("tCrt", "Created", "created_time", json!({})),
    ];
    let (_, tds) = ws.add_database(&page, "Tasks", &owner, vec![("Tasks".into(), tasks_schema)]);
    let tasks_ds = tds[0].clone();
    let states = ["Not started", "In progress", "Done"];
    let task_tags = ["bug", "feature", "chore"];
    for i in 0..36usize {
        let state = states[i % 3];
        let done = state == "Done";
        ws.add_row(
            &tasks_ds,
            &team[i % 5],
            vec![
                (
                    "title",
                    rt_array(&format!(
                        "Task {}: {}",
                        i + 1,
                        [
                            "wire encoder",
                            "write tests",
                            "update docs",
                            "fix calibration"
                        ][i % 4]
                    )),
                ),
                ("tSt", option_value(state)),
                (
                    "tAsg",
                    if i % 8 == 7 {
                        json!([])
                    } else {
                        json!([person(&team[(i * 3) % 5])])
                    },
                ),
                (
                    "tDue",
                    if i % 6 == 5 {
                        Value::Null
                    } else {
                        date(
                            &format!("2026-{:02}-{:02}", 9 + i % 3, 1 + (i * 5) % 28),
                            None,
                            None,
                        )
                    },
                ),
                ("tPrj", json!([{"id": projects[i % projects.len()]}])),
                (
                    "tEst",
                    if i % 4 == 3 {
                        Value::Null
                    } else {
                        json!((i % 5) as f64 * 1.5 + 0.5)
                    },
                ),
                ("tTag", json!([option_value(task_tags[i % 3])])),
                ("tId", json!({"prefix": "TASK", "number": i + 1})),
                (
                    "tDone",
                    if done {
                        date(&format!("2026-09-{:02}", 1 + (i * 2) % 28), None, None)
                    } else {
                        Value::Null
                    },
                ),
            ],
        );
    }
    ids.data_sources.insert("Projects".into(), projects_ds);
    ids.data_sources.insert("Milestones".into(), milestones_ds);
    ids.data_sources.insert("Tasks".into(), tasks_ds);
    ids.databases.insert("Projects".into(), projects_db);
}

fn build_meetings(ws: &mut Workspace, ids: &mut DemoIds, root: &str, team: &[String; 5]) {
    let [ada, grace, alan, katherine, linus] = team.clone();
    let hub = ws.add_page(FParent::Page(root.into()), "Meeting notes", &grace);
    for (week, date_s) in ["2026-09-07", "2026-09-14", "2026-09-21"]
        .iter()
        .enumerate()
    {
        let page = ws.add_page(
            FParent::Page(hub.clone()),
            &format!("Weekly sync {date_s}"),
            &team[week % 5],
        );
        ws.add_block(
            &page,
            "heading_2",
            json!({"rich_text": rt_array("Agenda"), "color": "default", "is_toggleable": false}),
            &grace,
        );
        for item in ["Pipeline review", "Hiring", "Demo day"] {
            ws.add_block(&page, "bulleted_list_item", rich(item), &grace);
        }
        ws.add_block(&page, "heading_2", json!({"rich_text": rt_array("Action items"), "color": "default", "is_toggleable": false}), &grace);
        let mut todos = Vec::new();
        for (k, (text, who)) in [
            ("Send Globex the revised quote", &ada),
            ("Book the demo room", &alan),
            ("Draft the hiring plan", &katherine),
        ]
        .iter()
        .enumerate()
        {
            let rich_text = json!([
                rt(text),
                rt(" — "),
                mention_user(
                    who,
                    ws.user(who)
                        .map(|u| u.name.clone())
                        .unwrap_or_default()
                        .as_str()
                )
            ]);
            todos.push(ws.add_block(
                &page,
                "to_do",
                json!({"rich_text": rich_text, "checked": (k + week) % 3 == 0, "color": "default"}),
                who,
            ));
        }
        ws.add_block(&page, "callout", json!({"rich_text": rt_array("Decisions are final once minuted."), "icon": {"type": "emoji", "emoji": "📌"}, "color": "gray_background"}), &grace);
        let d = ws.add_comment(&page, &grace, "Can we move this to Tuesday?", None);
        let discussion = ws
            .comments
            .iter()
            .find(|c| c.id == d)
            .map(|c| c.discussion_id.clone());
        ws.add_comment(
            &page,
            &linus,
            "Tuesday works for me.",
            discussion.as_deref(),
        );
        ws.add_comment(&todos[0], &ada, "Quote sent, waiting for a reply.", None);
        if week == 0 {
            let c = ws.add_comment(
                &todos[1],
                &alan,
                "Room 3 is booked; photo of the setup attached.",
                None,
            );
            if let Some(cm) = ws.comments.iter_mut().find(|x| x.id == c) {
                cm.attachments = Some(
                    json!([{"category": "image", "file": {"url": "https://prod-files-secure.s3.us-west-2.amazonaws.com/acme/room3.png?X-Amz-Expires=3600", "expiry_time": "2026-09-30T09:00:00.000Z"}}]),
                );
            }
        }
        ids.meeting_pages.push(page);
    }

    // One block of every type Notion documents.
    let g = ws.add_page(FParent::Page(hub.clone()), "Block gallery", &ada);
    ids.block_gallery = g.clone();
    let a = ada.as_str();
    ws.add_block(&g, "paragraph", json!({"rich_text": [rt("Plain, "), bold("bold"), rt(" and "), link("a link", "https://acme.example")], "color": "default"}), a);
    for (k, h) in ["heading_1", "heading_2", "heading_3", "heading_4"]
        .iter()
        .enumerate()
    {
        ws.add_block(&g, h, json!({"rich_text": rt_array(&format!("Heading {}", k + 1)), "color": "default", "is_toggleable": false}), a);
    }
    let toggle_heading = ws.add_block(
        &g,
        "heading_3",
        json!({"rich_text": rt_array("Toggle heading"), "color": "blue", "is_toggleable": true}),
        a,
    );
    ws.add_block(
        &toggle_heading,
        "paragraph",
        rich("Hidden under a toggleable heading."),
        a,
    );
    let bullet = ws.add_block(&g, "bulleted_list_item", rich("Bullet"), a);
    ws.add_block(&bullet, "bulleted_list_item", rich("Nested bullet"), a);
    ws.add_block(&g, "numbered_list_item", json!({"rich_text": rt_array("First"), "color": "default", "list_start_index": 1, "list_format": "numbers"}), a);
    ws.add_block(&g, "numbered_list_item", rich("Second"), a);
    ws.add_block(
        &g,
        "to_do",
        json!({"rich_text": rt_array("Open item"), "checked": false, "color": "default"}),
        a,
    );
    ws.add_block(
        &g,
        "to_do",
        json!({"rich_text": rt_array("Done item"), "checked": true, "color": "default"}),
        a,
    );
    let toggle = ws.add_block(&g, "toggle", rich("Toggle"), a);
    ws.add_block(&toggle, "paragraph", rich("Inside the toggle."), a);
    ws.add_block(
        &g,
        "quote",
        rich("Simplicity is prerequisite for reliability."),
        a,
    );
    ws.add_block(&g, "callout", json!({"rich_text": rt_array("Callout"), "icon": {"type": "icon", "icon": {"name": "snake", "color": "purple"}}, "color": "yellow_background"}), a);
    ws.add_block(&g, "code", json!({"rich_text": rt_array("SELECT count(*) FROM deals;"), "caption": [], "language": "sql"}), a);
    ws.add_block(
        &g,
        "equation",
        json!({"expression": "e^{i\\pi} + 1 = 0"}),
        a,
    );
    ws.add_block(&g, "divider", json!({}), a);
    ws.add_block(&g, "breadcrumb", json!({}), a);
    ws.add_block(&g, "table_of_contents", json!({"color": "default"}), a);
    let cols = ws.add_block(&g, "column_list", json!({}), a);
    let c1 = ws.add_block(&cols, "column", json!({"width_ratio": 0.5}), a);
    let c2 = ws.add_block(&cols, "column", json!({}), a);
    ws.add_block(&c1, "paragraph", rich("Left column"), a);
    ws.add_block(&c2, "paragraph", rich("Right column"), a);
    let table = ws.add_block(
        &g,
        "table",
        json!({"table_width": 2, "has_column_header": true, "has_row_header": false}),
        a,
    );
    for row in [["Metric", "Value"], ["Deals won", "5"], ["Win rate", "21%"]] {
        ws.add_block(
            &table,
            "table_row",
            json!({"cells": [rt_array(row[0]), rt_array(row[1])]}),
            a,
        );
    }
    let file = |name: &str| json!({"url": format!("https://prod-files-secure.s3.us-west-2.amazonaws.com/acme/{name}?X-Amz-Expires=3600"), "expiry_time": "2026-09-30T09:00:00.000Z"});
    ws.add_block(
        &g,
        "image",
        json!({"caption": rt_array("The arm"), "type": "file", "file": file("arm.png")}),
        a,
    );
    ws.add_block(&g, "video", json!({"caption": [], "type": "external", "external": {"url": "https://video.example.com/demo.mp4"}}), a);
    ws.add_block(
        &g,
        "pdf",
        json!({"caption": [], "type": "file", "file": file("spec.pdf")}),
        a,
    );
    ws.add_block(&g, "audio", json!({"caption": [], "type": "external", "external": {"url": "https://audio.example.com/standup.mp3"}}), a);
    ws.add_block(
        &g,
        "file",
        json!({"caption": [], "type": "file", "file": file("data.csv"), "name": "data.csv"}),
        a,
    );
    ws.add_block(
        &g,
        "bookmark",
        json!({"url": "https://arrow.apache.org", "caption": []}),
        a,
    );
    ws.add_block(
        &g,
        "embed",
        json!({"url": "https://www.figma.com/file/abc", "caption": []}),
        a,
    );
    ws.add_block(
        &g,
        "link_preview",
        json!({"url": "https://github.com/acme/arm/pull/42"}),
        a,
    );
    let sub = ws.add_page(FParent::Page(g.clone()), "Gallery sub-page", a);
    ws.add_block(&sub, "paragraph", rich("A child page's own content."), a);
    let (_, _) = ws.add_database(
        &g,
        "Inline reading list",
        a,
        vec![(
            "Reading list".into(),
            vec![
                prop("title", "Title", "title", json!({})),
                prop("rRead", "Read", "checkbox", json!({})),
            ],
        )],
    );
    ws.add_block(
        &g,
        "link_to_page",
        json!({"type": "page_id", "page_id": root}),
        a,
    );
    let original = ws.add_block(&g, "synced_block", json!({"synced_from": null}), a);
    ws.add_block(
        &original,
        "paragraph",
        rich("Synced content, written once."),
        a,
    );
    ws.add_block(
        &g,
        "synced_block",
        json!({"synced_from": {"type": "block_id", "block_id": original}}),
        a,
    );
    let template = ws.add_block(
        &g,
        "template",
        json!({"rich_text": rt_array("New meeting")}),
        a,
    );
    ws.add_block(
        &template,
        "to_do",
        json!({"rich_text": rt_array("Write the agenda"), "checked": false, "color": "default"}),
        a,
    );
    let tab = ws.add_block(&g, "tab", json!({}), a);
    ws.add_block(&tab, "paragraph", json!({"rich_text": rt_array("Tab one"), "color": "default", "icon": {"type": "emoji", "emoji": "1️⃣"}}), a);
    let notes = ws.add_block(&g, "meeting_notes", json!({"title": rt_array("Kick-off call"), "status": "notes_ready", "children": {}, "calendar_event": {"start_time": "2026-09-02T09:00:00.000Z", "end_time": "2026-09-02T09:30:00.000Z", "attendees": [ada, grace]}, "recording": {"start_time": "2026-09-02T09:01:00.000Z", "end_time": "2026-09-02T09:29:00.000Z"}}), a);
    let summary = ws.add_block(&notes, "paragraph", rich("Summary: scope agreed."), a);
    let notes_section = ws.add_block(
        &notes,
        "paragraph",
        json!({"rich_text": [], "color": "default"}),
        a,
    );
    ws.add_block(&notes_section, "to_do", json!({"rich_text": rt_array("Send the scope to Globex"), "checked": false, "color": "default"}), a);
    let transcript = ws.add_block(
        &notes,
        "paragraph",
        rich("Ada: let's start with the arm."),
        a,
    );
    if let Some(b) = ws.blocks.get_mut(&notes) {
        b.payload["children"] = json!({"summary_block_id": summary, "notes_block_id": notes_section, "transcript_block_id": transcript});
    }
    ws.add_block(&g, "unsupported", json!({"block_type": "button"}), a);

    // A four-level tree and a block with 150 children.
    let deep = ws.add_page(FParent::Page(hub.clone()), "Deep outline", &alan);
    let mut parent = deep.clone();
    for level in 1..=4 {
        parent = ws.add_block(&parent, "toggle", rich(&format!("Level {level}")), &alan);
    }
    ws.add_block(
        &parent,
        "paragraph",
        rich("The bottom of the outline."),
        &alan,
    );
    let wide = ws.add_block(&deep, "toggle", rich("All 150 checklist items"), &alan);
    for k in 0..150 {
        ws.add_block(&wide, "to_do", json!({"rich_text": rt_array(&format!("Checklist item {}", k + 1)), "checked": k % 4 == 0, "color": "default"}), &alan);
    }
    ids.wide_block = wide;
}
