//! Thrift edge of the user service: wire ↔ domain conversions around [`UserApp`].
use std::sync::Arc;

use pilota::FastStr;
use shop_idl::user as wire;
use shop_rpc::{ServerResult, current_actor, reply};

use crate::{
    app::UserApp,
    domain::{Address, AddressInput, Customer, ProfilePatch, Registration},
    store::CustomerStore,
};

/// The `UserService` implementation.
pub struct UserRpc<S> {
    app: Arc<UserApp<S>>,
}

impl<S> UserRpc<S> {
    /// Serves `app`.
    pub fn new(app: Arc<UserApp<S>>) -> Self {
        Self { app }
    }
}

fn opt(s: Option<FastStr>) -> Option<String> {
    s.map(|s| s.to_string())
}

fn opt_wire(s: &Option<String>) -> Option<FastStr> {
    s.clone().map(FastStr::from)
}

fn address_input(a: wire::AddressInput) -> AddressInput {
    AddressInput {
        first_name: opt(a.first_name),
        last_name: opt(a.last_name),
        company: opt(a.company),
        address1: a.address1.to_string(),
        address2: opt(a.address2),
        city: a.city.to_string(),
        province: opt(a.province),
        country_code: a.country_code.to_string(),
        zip: a.zip.to_string(),
        phone: opt(a.phone),
    }
}

fn address_to_wire(a: &Address) -> wire::Address {
    wire::Address {
        id: a.id.clone().into(),
        first_name: opt_wire(&a.first_name),
        last_name: opt_wire(&a.last_name),
        company: opt_wire(&a.company),
        address1: a.address1.clone().into(),
        address2: opt_wire(&a.address2),
        city: a.city.clone().into(),
        province: opt_wire(&a.province),
        country_code: a.country_code.clone().into(),
        zip: a.zip.clone().into(),
        phone: opt_wire(&a.phone),
    }
}

/// The wire form of a customer.
pub fn customer_to_wire(c: &Customer) -> wire::Customer {
    wire::Customer {
        id: c.id.clone().into(),
        email: c.email.clone().into(),
        first_name: opt_wire(&c.first_name),
        last_name: opt_wire(&c.last_name),
        phone: opt_wire(&c.phone),
        accepts_marketing: c.accepts_marketing,
        addresses: c.addresses.iter().map(address_to_wire).collect(),
        default_address_id: opt_wire(&c.default_address_id),
        created_at_ms: c.created_at_ms,
        updated_at_ms: c.updated_at_ms,
        permissions: Some(
            c.permissions
                .iter()
                .map(|p| FastStr::from_static_str(p.as_str()))
                .collect(),
        ),
    }
}

fn customer_response(
    r: Result<Customer, shop_kernel::Error>,
) -> Result<wire::CustomerResponse, shop_kernel::Error> {
    r.map(|c| wire::CustomerResponse {
        customer: customer_to_wire(&c),
    })
}

impl<S: CustomerStore> wire::UserService for UserRpc<S> {
    async fn register(
        &self,
        req: wire::RegisterRequest,
    ) -> ServerResult<wire::RegisterResponse, wire::UserServiceRegisterException> {
        let reg = Registration {
            email: req.email.to_string(),
            password: req.password.to_string(),
            first_name: opt(req.first_name),
            last_name: opt(req.last_name),
            phone: opt(req.phone),
            accepts_marketing: req.accepts_marketing,
        };
        reply(
            self.app
                .register(reg)
                .await
                .map(|c| wire::RegisterResponse {
                    customer: customer_to_wire(&c),
                }),
        )
    }

    async fn authenticate(
        &self,
        req: wire::AuthenticateRequest,
    ) -> ServerResult<wire::AuthenticateResponse, wire::UserServiceAuthenticateException> {
        let result = self.app.authenticate(&req.email, &req.password).await;
        reply(result.map(|c| wire::AuthenticateResponse {
            customer: customer_to_wire(&c),
        }))
    }

    async fn get_customers(
        &self,
        req: wire::GetCustomersRequest,
    ) -> ServerResult<wire::GetCustomersResponse, wire::UserServiceGetCustomersException> {
        let ids: Vec<String> = req.ids.iter().map(|s| s.to_string()).collect();
        let result = self.app.get_customers(&current_actor(), &ids).await;
        reply(result.map(|cs| wire::GetCustomersResponse {
            customers: cs.iter().map(customer_to_wire).collect(),
        }))
    }

    async fn update_profile(
        &self,
        req: wire::UpdateProfileRequest,
    ) -> ServerResult<wire::UpdateProfileResponse, wire::UserServiceUpdateProfileException> {
        let patch = ProfilePatch {
            first_name: opt(req.first_name),
            last_name: opt(req.last_name),
            phone: opt(req.phone),
            accepts_marketing: req.accepts_marketing,
        };
        let result = self
            .app
            .update_profile(&current_actor(), &req.customer_id, patch)
            .await;
        reply(result.map(|c| wire::UpdateProfileResponse {
            customer: customer_to_wire(&c),
        }))
    }

    async fn add_address(
        &self,
        req: wire::AddAddressRequest,
    ) -> ServerResult<wire::CustomerResponse, wire::UserServiceAddAddressException> {
        let input = address_input(req.address);
        reply(customer_response(
            self.app
                .add_address(&current_actor(), &req.customer_id, input, req.make_default)
                .await,
        ))
    }

    async fn update_address(
        &self,
        req: wire::UpdateAddressRequest,
    ) -> ServerResult<wire::CustomerResponse, wire::UserServiceUpdateAddressException> {
        let input = address_input(req.address);
        reply(customer_response(
            self.app
                .update_address(&current_actor(), &req.customer_id, &req.address_id, input)
                .await,
        ))
    }

    async fn delete_address(
        &self,
        req: wire::DeleteAddressRequest,
    ) -> ServerResult<wire::CustomerResponse, wire::UserServiceDeleteAddressException> {
        reply(customer_response(
            self.app
                .delete_address(&current_actor(), &req.customer_id, &req.address_id)
                .await,
        ))
    }

    async fn set_permissions(
        &self,
        req: wire::SetPermissionsRequest,
    ) -> ServerResult<wire::CustomerResponse, wire::UserServiceSetPermissionsException> {
        let names: Vec<String> = req.permissions.iter().map(|s| s.to_string()).collect();
        reply(customer_response(
            self.app
                .set_permissions(&current_actor(), &req.email, &names)
                .await,
        ))
    }

    async fn change_password(
        &self,
        req: wire::ChangePasswordRequest,
    ) -> ServerResult<wire::CustomerResponse, wire::UserServiceChangePasswordException> {
        reply(customer_response(
            self.app
                .change_password(&current_actor(), &req.current_password, &req.new_password)
                .await,
        ))
    }

    async fn request_password_reset(
        &self,
        req: wire::RequestPasswordResetRequest,
    ) -> ServerResult<
        wire::RequestPasswordResetResponse,
        wire::UserServiceRequestPasswordResetException,
    > {
        reply(
            self.app
                .request_password_reset(&current_actor(), &req.email)
                .await
                .map(|()| wire::RequestPasswordResetResponse {}),
        )
    }

    async fn reset_password(
        &self,
        req: wire::ResetPasswordRequest,
    ) -> ServerResult<wire::CustomerResponse, wire::UserServiceResetPasswordException> {
        reply(customer_response(
            self.app
                .reset_password(
                    &current_actor(),
                    &req.customer_id,
                    &req.reset_token,
                    &req.new_password,
                )
                .await,
        ))
    }
}
