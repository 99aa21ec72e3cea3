//! The workspace budgets of a fleet run: connections whose tokens belong to the same workspace
//! (the bot user's `workspace_id`, from `GET /v1/users/me`) share one
//! [`WorkspaceBudget`], kept for the life of the process so that what one round learned about a
//! workspace's limit holds in the next (`--watch`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::notion::{BudgetView, NotionClient, NotionError, WorkspaceBudget};

/// Every workspace's budget, by workspace id.
#[derive(Debug, Default)]
pub struct Budgets {
    by_workspace: Mutex<HashMap<String, Arc<WorkspaceBudget>>>,
}

impl Budgets {
    /// Asks Notion which workspace `client`'s token belongs to (one request) and makes the
    /// client share that workspace's budget; returns the budget.
    pub async fn join(&self, client: &NotionClient) -> Result<Arc<WorkspaceBudget>, NotionError> {
        let me = client.users_me().await?;
        let id = me
            .pointer("/bot/workspace_id")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            // A bot user without a workspace id shares with nobody: its own bot id keys it.
            .or_else(|| {
                me.get("id")
                    .and_then(|v| v.as_str())
                    .map(|b| format!("bot:{b}"))
            })
            .unwrap_or_else(|| format!("unknown:{}", uuid::Uuid::new_v4()));
        let budget = self
            .by_workspace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.clone())
            .or_insert_with(|| Arc::new(WorkspaceBudget::new(id)))
            .clone();
        client.share_workspace_budget(budget.clone());
        Ok(budget)
    }

    /// Every workspace's budget as it stands, by workspace id.
    pub fn views(&self) -> Vec<BudgetView> {
        let mut all: Vec<BudgetView> = self
            .by_workspace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|b| b.view())
            .collect();
        all.sort_by(|a, b| a.workspace_id.cmp(&b.workspace_id));
        all
    }
}
