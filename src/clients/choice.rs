//! The agent's model with the models a session may choose instead (`/model`,
//! `sessions.patch {model}`): the configured ones only (the primary, its fallbacks, the
//! `agents.defaults.models` entries and every model listed under `models.providers`), so a
//! chat cannot point the owner's keys at a model nobody configured.

use std::rc::Rc;

use crate::actors::ports::{
    ChatModel, ChatRequest, ChatResponse, DeltaSink, LocalFut, ModelChoice, ModelError,
};

/// The default model (with its fallbacks) and the choices.
pub struct Choosable {
    default: Rc<dyn ChatModel>,
    choices: Vec<(ModelChoice, Rc<dyn ChatModel>)>,
    /// The agents with a model of their own (`agents.entries.<id>.model`), each with the
    /// same choices.
    agents: Vec<(String, Rc<dyn ChatModel>)>,
}

impl Choosable {
    /// `default` answers unless a session chose one of `choices`.
    pub fn new(default: Rc<dyn ChatModel>, choices: Vec<(ModelChoice, Rc<dyn ChatModel>)>) -> Self {
        Self {
            default,
            choices,
            agents: Vec::new(),
        }
    }

    /// With these agents' own models (`(agent id, its model with fallbacks)`).
    pub fn with_agents(mut self, agents: Vec<(String, Rc<dyn ChatModel>)>) -> Self {
        self.agents = agents
            .into_iter()
            .map(|(id, m)| {
                (
                    id,
                    Rc::new(Choosable::new(m, self.choices.clone())) as Rc<dyn ChatModel>,
                )
            })
            .collect();
        self
    }
}

impl ChatModel for Choosable {
    fn label(&self) -> String {
        self.default.label()
    }

    fn primary(&self) -> String {
        self.default.primary()
    }

    fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>> {
        self.default.complete(req)
    }

    fn complete_streaming(
        &self,
        req: ChatRequest,
        sink: DeltaSink,
    ) -> LocalFut<Result<ChatResponse, ModelError>> {
        self.default.complete_streaming(req, sink)
    }

    fn commands_help(&self) -> Option<&'static str> {
        self.default.commands_help()
    }

    fn sees_images(&self) -> bool {
        self.default.sees_images()
    }

    fn context_window(&self) -> Option<u32> {
        self.default.context_window()
    }

    fn reasons(&self) -> bool {
        self.default.reasons()
    }

    fn records_calls(&self) -> bool {
        self.default.records_calls()
    }

    fn for_agent(&self, agent: &str) -> Option<Rc<dyn ChatModel>> {
        self.agents
            .iter()
            .find(|(id, _)| id == agent)
            .map(|(_, m)| m.clone())
    }

    fn choices(&self) -> Vec<ModelChoice> {
        self.choices.iter().map(|(c, _)| c.clone()).collect()
    }

    fn pick(&self, reference: &str) -> Result<(String, Rc<dyn ChatModel>), String> {
        let r = reference.trim();
        let found = self
            .choices
            .iter()
            .find(|(c, _)| c.reference == r)
            .or_else(|| {
                self.choices
                    .iter()
                    .find(|(c, _)| c.reference.eq_ignore_ascii_case(r))
            })
            .or_else(|| {
                self.choices.iter().find(|(c, _)| {
                    c.alias
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(r))
                })
            })
            .or_else(|| {
                let mut bare = self.choices.iter().filter(|(c, _)| {
                    c.reference
                        .split_once('/')
                        .is_some_and(|(_, m)| m.eq_ignore_ascii_case(r))
                });
                match (bare.next(), bare.next()) {
                    (Some(one), None) => Some(one),
                    _ => None,
                }
            });
        match found {
            Some((c, m)) => Ok((c.reference.clone(), m.clone())),
            None => {
                let shown: String = r.chars().take(100).collect();
                if self.choices.is_empty() {
                    return Err(format!(
                        "there is no model {shown:?} to choose from: only the default model is configured"
                    ));
                }
                Err(format!(
                    "unknown model {shown:?}; choose one of: {}",
                    self.choices
                        .iter()
                        .map(|(c, _)| match &c.alias {
                            Some(a) => format!("{} ({a})", c.reference),
                            None => c.reference.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
    }
}
